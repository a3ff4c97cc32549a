"""The workspace taxonomy: the categories a workspace sorts its texts into (seeded from
``taxonomy.toml``), their service, API and schemas."""
