"""Training: data, device data and augmentation, the trainer, the evaluator, devices and the final retraining."""
