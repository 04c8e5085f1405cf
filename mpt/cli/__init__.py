"""Console entry points: thin Hydra apps over plain functions that tests call directly."""
