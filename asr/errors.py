"""Exceptions for bad input. Each names the file, utterance or token at fault and the problem."""


class AsrError(ValueError):
    """Base class for errors caused by bad input to the toolkit."""


class AudioError(AsrError):
    """An audio file that cannot be read or has the wrong shape or rate."""


class DataDirError(AsrError):
    """A Kaldi data dir or manifest that fails validation."""


class TokenizerError(AsrError):
    """Text that the tokenizer cannot represent, or a broken lang dir."""


class ModelDirError(AsrError):
    """A model dir or checkpoint that is missing pieces or does not match its config."""


class GrammarError(AsrError):
    """An ITN grammar, override, user whitelist file or compiled grammar that cannot be used."""


class LossInputError(AsrError):
    """Loss inputs with inconsistent shapes, out-of-vocabulary symbols or impossible lengths."""
