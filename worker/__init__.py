"""The provider worker: a Celery app that trains dispatched jobs with verde, submits, and defends its results."""
