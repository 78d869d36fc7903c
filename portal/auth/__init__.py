"""Sign-in, sign-out and first-run administrator setup."""
