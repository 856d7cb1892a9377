"""Make a hybrid model dir: a transducer model dir with a CTC head plus the HLG built from its tokens.

    python -m asr.hybrid.prepare data/lang_hybrid --tokens-dir exp/transducer/model --text LM_TEXT...
    python -m asr.hybrid.model_dir exp/transducer/model data/lang_hybrid exp/hybrid/model

The dir holds the model (``model.pt``, ``config.json``, ``tokens.txt``, ``bpe.model``), the graph
(``HLG.fst``, ``G.fst``, ``words.txt``, ``lexicon.txt``) and ``hybrid.json`` recording the sha256 of
the model, tokens, words and graph, so loading refuses a graph saved with other words or tokens
(``asr.hybrid.decode.load_hybrid_model_dir``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.errors import AsrError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr.hybrid.model_dir", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="transducer model dir with a CTC head")
    parser.add_argument("lang_dir", type=Path, help="token lang dir built with --tokens-dir MODEL_DIR")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    from asr.hybrid.decode import save_hybrid_model_dir

    try:
        out = save_hybrid_model_dir(args.out_dir, args.model_dir, args.lang_dir)
    except AsrError as e:
        print(f"python -m asr.hybrid.model_dir: error: {e}", file=sys.stderr)
        return 2
    config = json.loads((out / "hybrid.json").read_text())
    print(f"{out}: {config['num_words']} words, HLG {config['graph_states']} states, {config['graph_arcs']} arcs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
