"""Words that data, evaluation and the quality tools share, below all of them (layer "base").

    lexicons   bias term lists by category (gender, age, race, ...) with context rules
    people     person nouns: when a descriptor ("black", "old") describes a person
    objects    object names from a dataset's objects column

Plain Python (re, dataclasses): importing these loads no model, dataset or quality tool.
"""
