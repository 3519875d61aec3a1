"""The shipped experiments, one TOML file each (`vanishing presets` lists them)."""
