"""The bundled 3,000/1,000-image Fashion-MNIST sample (data only; see README.md here)."""
