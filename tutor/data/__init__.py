"""Data sets, kept under the user data folder: pretraining corpora, the SMS Spam Collection
(and its synthetic practice set), checksummed downloads and workshop kits."""
