"""The pages customers answer surveys on, without signing in: the personal invitation link and
a survey's public link."""
