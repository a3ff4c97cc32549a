"""Journeys pages: funnels, paths and retention."""
