"""Message-level emotion detection: the lexicon, the trained model and their data files."""
