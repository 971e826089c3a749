"""Data sets: pretraining corpora (and, later, the SMS set), kept under the user data folder."""
