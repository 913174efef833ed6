"""rmbench's engine: registry, config, data, world, models, trainer, suites, metrics, api."""

__version__ = "0.1.0"
