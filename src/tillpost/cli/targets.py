"""Commands of this area register themselves on `cli` here."""
