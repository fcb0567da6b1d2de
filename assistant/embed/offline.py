"""The switch that keeps the model libraries off the network, in one place.

Nothing may be downloaded from a model hub at run time: huggingface_hub and transformers read
these variables once, when first imported, so every path that loads them calls
`stay_offline()` first. They are the library's own switches, not `MMN_*` settings, so they
are set here rather than read in `assistant.settings`.
"""

import os


def stay_offline() -> None:
    """Hub and transformers offline, and no tokenizer thread pool beside our own threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
