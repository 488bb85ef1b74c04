"""CLIP's tokenizer: byte-level BPE with end-of-word markers, built on the ``tokenizers`` library.

The vocabulary is two files that travel with every CLIP checkpoint
(``vocab.json``: token -> id; ``merges.txt``: the BPE merges in priority
order, after a ``#version`` line), the same two files a Hugging Face CLIP
repo holds. What the tokenizer does to a text:

1. clean it exactly as open_clip does: ``ftfy.fix_text`` (mojibake repaired,
   quotes, ligatures and widths fixed, controls and terminal escapes
   dropped, NFC), HTML entities unescaped twice, runs of whitespace
   collapsed to one space, stripped, lower-cased (:func:`clean`);
2. split it into words with CLIP's pattern: the contractions ``'s 't 're
   've 'm 'll 'd``, runs of letters, single digits, runs of other
   non-space characters;
3. write each word's UTF-8 bytes with the 256-character byte alphabet of
   GPT-2 (printable bytes stand for themselves, the others are shifted
   past U+0100), mark its last symbol with ``</w>`` and apply the merges;
4. wrap the ids in ``<|startoftext|>`` ... ``<|endoftext|>``, truncate to the
   context length keeping ``<|endoftext|>`` last, and pad with id 0. The
   special tokens' names typed in a text are text: only step 4 puts their
   ids in a row.

The ids are open_clip's (``open_clip.tokenize``) for every text, with one
deliberate exception: open_clip spells its special tokens ``<start_of_text>``
and ``<end_of_text>`` and turns those two literals, typed in a text, into
the control ids (so the text tower pools at a typed ``<end_of_text>`` and
ignores the rest of the prompt); here they are text like any other.

OpenAI's full vocabulary has 49,408 tokens: 256 bytes, their 256
end-of-word forms, 48,894 merges, and the two special tokens (49406, 49407),
so the end token has the highest id of every row (the text tower pools
there). :func:`openai_vocabulary` builds it from the ``bpe_simple_vocab_16e6``
merges list that ``open_clip_torch`` ships. :func:`subset_vocabulary`
keeps only what some words need -- the bundled digits model uses such a
vocabulary of a few hundred tokens (see ``bpe/digits/README.md``).
"""

from __future__ import annotations

import copy
import gzip
import html
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch

from genzoo.errors import ConfigError

SOT = "<|startoftext|>"
EOT = "<|endoftext|>"
END_OF_WORD = "</w>"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
MERGES_HEADER = "#version: 0.2"
#: How CLIP splits cleaned text into words: the reference's pattern, run case-insensitively by the
#: ``regex`` module as the reference runs it (Oniguruma, in ``tokenizers``, has other Unicode tables:
#: it disagrees on code points newer than its tables and on U+0345, which folds to a letter).
WORD_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
#: The merges list in open_clip_torch (one header line, then merges, one per line).
OPENAI_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
OPENAI_NUM_MERGES = 49152 - 256 - 2
OPENAI_VOCAB_SIZE = 49408

_BUNDLED = Path(__file__).resolve().parent / "bpe"


#: Tokenizers built this process, by the bytes of their (vocab.json, merges.txt): loading the same
#: checkpoint again, or another with the same vocabulary, does not rebuild the BPE tables.
_BUILT: dict[tuple[bytes, bytes], "CLIPTokenizer"] = {}
_BUILT_MAX = 4


class TokenizerError(ConfigError):
    """The tokenizer files are missing, malformed, or do not fit the model."""


@lru_cache(maxsize=1)
def byte_alphabet() -> dict[int, str]:
    """Byte -> the character that stands for it (GPT-2's reversible byte encoding).

    The 188 printable Latin-1 bytes (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``)
    are their own characters; the other 68 (controls, space, soft hyphen...)
    take the characters from U+0100 on, in byte order. The dict's order --
    printable bytes first -- is the order of the first 256 vocabulary ids.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + shifted)
            shifted += 1
    return table


def base_tokens() -> list[str]:
    """The 512 tokens every CLIP vocabulary starts with: the bytes, then their end-of-word forms."""
    chars = list(byte_alphabet().values())
    return chars + [c + END_OF_WORD for c in chars]


def clean(text: str) -> str:
    """What CLIP does to a text before splitting it, exactly as open_clip (and OpenAI's CLIP) do.

    ``ftfy.fix_text`` first (it repairs mojibake such as ``donâ€™t``, straightens
    curly quotes, expands ligatures and full-width forms, drops control and
    terminal-escape characters, NFC), then HTML entities unescaped twice, then
    whitespace runs (Python's idea of whitespace, ``\\x85`` included) collapsed
    to one space, stripped, lower-cased. The same library rather than a subset
    of its rules: a hand-written copy drifts from the reference on exactly the
    texts that need repairing.
    """
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split()).lower()


def read_merges(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``merges.txt``: an optional ``#version`` line, then one ``left right`` pair per line."""
    return parse_merges(Path(path).read_text(encoding="utf-8"), path)


def parse_merges(text: str, path: str | os.PathLike) -> list[tuple[str, str]]:
    """The merges of a ``merges.txt`` text (``path`` names it in errors)."""
    merges = []
    for n, line in enumerate(text.split("\n")):
        if not line or (n == 0 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise TokenizerError(f"{path}, line {n + 1}: a merge is two symbols separated by one space, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


def openai_vocabulary(path: str | os.PathLike | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """OpenAI CLIP's vocabulary (49,408 tokens) and merges (48,894), from ``bpe_simple_vocab_16e6.txt.gz``.

    The file lists the merges (after one header line); the vocabulary is
    built from them the way OpenAI's tokenizer builds it: the 256 byte
    characters, their 256 end-of-word forms, one token per merge (its two
    symbols joined), then ``<|startoftext|>`` and ``<|endoftext|>``. Without
    ``path`` the copy inside an installed ``open_clip_torch`` is used.
    """
    path = Path(path) if path is not None else _find_openai_bpe()
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 1 + OPENAI_NUM_MERGES]]
    tokens = base_tokens() + ["".join(m) for m in merges] + [SOT, EOT]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != OPENAI_VOCAB_SIZE:
        raise TokenizerError(f"{path} gives {len(vocab)} distinct tokens, not CLIP's {OPENAI_VOCAB_SIZE}")
    return vocab, [(a, b) for a, b in merges]


#: Where OpenAI's tokenizer files are fetched from when open_clip_torch is not installed.
OPENAI_TOKENIZER_REPO = ("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")


def _find_openai_bpe() -> Path:
    spec = importlib.util.find_spec("open_clip")  # locate the file without importing open_clip
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / OPENAI_BPE_FILE
        if candidate.is_file():
            return candidate
    raise TokenizerError(
        "OpenAI CLIP's vocabulary is not available offline: install open_clip_torch (it ships "
        f"{OPENAI_BPE_FILE}), or load a CLIP checkpoint, which brings its vocab.json and merges.txt"
    )


def _fetch_openai_files() -> Path:
    """vocab.json and merges.txt of OpenAI's tokenizer from the Hub (pinned), into the Hugging Face cache."""
    from genzoo.convert import fetch_layout

    repo, revision = OPENAI_TOKENIZER_REPO
    return fetch_layout(repo, revision, (VOCAB_FILE, MERGES_FILE))


def openai_available() -> bool:
    try:
        _find_openai_bpe()
        return True
    except TokenizerError:
        return False


def bundled_vocabulary_folder(name: str) -> Path:
    """A vocabulary shipped with the plugin (``"digits"``), as a folder with vocab.json and merges.txt."""
    folder = _BUNDLED / name
    if not (folder / VOCAB_FILE).is_file():
        known = sorted(p.name for p in _BUNDLED.iterdir() if (p / VOCAB_FILE).is_file()) if _BUNDLED.is_dir() else []
        raise TokenizerError(f"no bundled CLIP vocabulary {name!r}; bundled: {', '.join(known) or 'none'}")
    return folder


class CLIPTokenizer:
    """Texts -> ``(N, context_length)`` LongTensors of CLIP token ids.

    ``tok(["a dog"])`` gives ``[[49406, 320, 1929, 49407, 0, ...]]`` with
    OpenAI's vocabulary. Build one from a folder (:meth:`from_folder`), from
    OpenAI's merges list (:meth:`openai`), or from a vocab dict and merges.
    """

    def __init__(self, vocab: Mapping[str, int], merges: Sequence[tuple[str, str]], context_length: int = 77):
        import regex
        from tokenizers import Tokenizer, models, pre_tokenizers

        self.vocab = dict(vocab)
        self.merges = [tuple(m) for m in merges]
        for special in (SOT, EOT):
            if special not in self.vocab:
                raise TokenizerError(f"the vocabulary has no {special} token")
        missing = [t for t in base_tokens() if t not in self.vocab]
        if missing:
            raise TokenizerError(f"the vocabulary lacks {len(missing)} of the 512 byte tokens (e.g. {missing[0]!r})")
        self.sot_id = self.vocab[SOT]
        self.eot_id = self.vocab[EOT]
        if self.eot_id != max(self.vocab.values()):
            raise TokenizerError(f"{EOT} must have the highest id (CLIP's text tower pools at the highest id)")
        self.context_length = int(context_length)
        bpe = models.BPE(
            vocab=self.vocab,
            merges=self.merges,
            continuing_subword_prefix="",
            end_of_word_suffix=END_OF_WORD,
            fuse_unk=False,
        )
        tok = Tokenizer(bpe)  # no normalizer: :func:`clean` does it in Python, as the reference does
        # words come split already (:meth:`words`); this only writes each word's bytes as characters
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        self._word_pattern = regex.compile(WORD_PATTERN, regex.IGNORECASE)
        # No added special tokens: a "<|endoftext|>" typed in a text is text (as in open_clip), not an
        # end token that would cut the text short; the ids of start and end are put in by __call__ alone.
        self._tok = tok
        self._decode_table = {i: t for t, i in self.vocab.items()}
        self._byte_of = {c: b for b, c in byte_alphabet().items()}

    # -- construction ------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | os.PathLike, context_length: int = 77) -> "CLIPTokenizer":
        """Read ``vocab.json`` and ``merges.txt`` from ``folder`` (built once per process for the same files)."""
        return cls.deferred(folder, context_length)()

    @classmethod
    def deferred(cls, folder: str | os.PathLike, context_length: int = 77) -> Callable[[], "CLIPTokenizer"]:
        """Read ``folder``'s two files now; build the tokenizer when the returned function is called.

        A model's load calls this, so that a missing file is still an error at
        load time, while the BPE tables -- a third of a second for OpenAI's
        49,408 tokens -- are built only when a text is first tokenized, and
        only once per process for the same file contents (later calls get a
        copy of the cached tokenizer with their own ``context_length``).
        """
        folder = Path(folder)
        vocab_path, merges_path = folder / VOCAB_FILE, folder / MERGES_FILE
        for p in (vocab_path, merges_path):
            if not p.is_file():
                raise TokenizerError(f"{folder} has no {p.name}: a CLIP tokenizer needs {VOCAB_FILE} and {MERGES_FILE}")
        files = (vocab_path.read_bytes(), merges_path.read_bytes())

        def build() -> CLIPTokenizer:
            tok = _BUILT.get(files)
            if tok is None:
                try:
                    vocab = json.loads(files[0].decode("utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise TokenizerError(f"{vocab_path} is not valid JSON ({exc})") from exc
                tok = cls(vocab, parse_merges(files[1].decode("utf-8"), merges_path), context_length)
                while len(_BUILT) >= _BUILT_MAX:
                    _BUILT.pop(next(iter(_BUILT)))
                _BUILT[files] = tok
            copied = copy.copy(tok)  # shares the immutable tables; context_length is the caller's
            copied.context_length = int(context_length)
            return copied

        return build

    @classmethod
    def openai(cls, context_length: int = 77, path: str | os.PathLike | None = None) -> "CLIPTokenizer":
        """OpenAI CLIP's tokenizer (49,408 tokens), from an installed open_clip_torch or ``path``."""
        return cls(*_cached_openai_vocabulary(str(path) if path else None), context_length)

    @classmethod
    def resolve(cls, spec: str, context_length: int = 77) -> "CLIPTokenizer":
        """``"openai"``, a bundled vocabulary's name (``"digits"``), or a folder with the two files.

        ``"openai"`` reads the merges list of an installed open_clip_torch, or
        else fetches the two files from OpenAI's ViT-B/32 repo on the Hub.
        """
        if spec == "openai":
            if openai_available():
                return cls.openai(context_length)
            try:
                return cls.from_folder(_fetch_openai_files(), context_length)
            except Exception as exc:  # noqa: BLE001 - say what would work instead
                raise TokenizerError(
                    f"OpenAI CLIP's vocabulary is needed but open_clip_torch is not installed and fetching "
                    f"{VOCAB_FILE}/{MERGES_FILE} from {OPENAI_TOKENIZER_REPO[0]} failed ({exc}). Install "
                    "open_clip_torch, or call model.set_tokenizer(CLIPTokenizer.from_folder(...))"
                ) from exc
        if Path(spec).expanduser().is_dir():
            return cls.from_folder(Path(spec).expanduser(), context_length)
        return cls.from_folder(bundled_vocabulary_folder(spec), context_length)

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``vocab.json`` and ``merges.txt`` into ``folder`` (the Hugging Face file formats)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(json.dumps(self.vocab, ensure_ascii=False) + "\n", encoding="utf-8")
        lines = [MERGES_HEADER, *(f"{a} {b}" for a, b in self.merges)]
        (folder / MERGES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- use ---------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return max(self.vocab.values()) + 1

    def encode(self, text: str) -> list[int]:
        """The ids of one text, without the start and end tokens."""
        return self._tok.encode(self.words(text), is_pretokenized=True, add_special_tokens=False).ids

    def words(self, text: str) -> list[str]:
        """A text cleaned (:func:`clean`) and split into the words that BPE sees."""
        return self._word_pattern.findall(clean(text))

    def __call__(self, texts: str | Iterable[str], context_length: int | None = None) -> torch.Tensor:
        """``(N, context_length)`` ids: start, the text, end, then padding with 0; long texts are cut
        so that the end token stays last."""
        if isinstance(texts, str):
            texts = [texts]
        words = [self.words(t) for t in texts]
        ctx = int(context_length or self.context_length)
        if ctx < 2:
            raise TokenizerError(f"context_length must be at least 2 (start and end tokens), got {ctx}")
        out = torch.zeros(len(words), ctx, dtype=torch.long)
        for row, enc in enumerate(self._tok.encode_batch(words, is_pretokenized=True, add_special_tokens=False)):
            ids = [self.sot_id, *enc.ids[: ctx - 2], self.eot_id]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def tokens(self, text: str) -> list[str]:
        """The BPE tokens of one text (for inspection)."""
        return self._tok.encode(self.words(text), is_pretokenized=True, add_special_tokens=False).tokens

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Ids back to text; start, end and padding after the end are dropped."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        pieces = []
        for i in ids:
            if i == self.eot_id:
                break
            if i == self.sot_id:
                continue
            pieces.append(self._decode_table[int(i)])
        text = "".join(pieces)
        data = bytearray()
        for piece in text.split(END_OF_WORD):
            data += bytes(self._byte_of[c] for c in piece)
            data += b" "
        return data.decode("utf-8", errors="replace").strip()

    def __repr__(self) -> str:
        return f"CLIPTokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, context_length={self.context_length})"


@lru_cache(maxsize=2)
def _cached_openai_vocabulary(path: str | None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return openai_vocabulary(path)


def subset_vocabulary(
    words: Iterable[str], vocab: Mapping[str, int], merges: Sequence[tuple[str, str]]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The part of a BPE vocabulary that ``words`` need, renumbered compactly.

    Keeps the 512 byte tokens, the merges the full tokenizer applies to
    ``words`` (in the full list's order) and the two special tokens last.
    Because BPE always applies the earliest merge available, the kept merges
    split these words exactly as the full vocabulary does (same token
    strings, new ids); any other text still tokenizes, into smaller pieces.
    """
    full = CLIPTokenizer(vocab, merges)
    rank = {m: i for i, m in enumerate(full.merges)}
    needed: set[tuple[str, str]] = set()
    for word in sorted({w for text in words for w in full.tokens(text)}):
        needed |= _merges_building(word, rank)
    kept = sorted(needed, key=rank.__getitem__)
    tokens = base_tokens() + ["".join(m) for m in kept] + [SOT, EOT]
    return {t: i for i, t in enumerate(tokens)}, kept


def _merges_building(token: str, rank: Mapping[tuple[str, str], int]) -> set[tuple[str, str]]:
    """The merges BPE applies to turn a token's characters into the token."""
    if token.endswith(END_OF_WORD):
        symbols = [*token[: -len(END_OF_WORD) - 1], token[-len(END_OF_WORD) - 1] + END_OF_WORD]
    else:
        symbols = list(token)
    used = set()
    while len(symbols) > 1:
        pairs = [(rank.get((a, b)), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if (a, b) in rank]
        if not pairs:
            break
        best = min(pairs)[0]
        pair = next((symbols[i], symbols[i + 1]) for r, i in pairs if r == best)
        used.add(pair)
        merged, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return used


def build_digits_vocabulary(folder: str | os.PathLike = _BUNDLED / "digits", bpe_path: str | os.PathLike | None = None) -> CLIPTokenizer:
    """Write the bundled digits vocabulary: the part of OpenAI's that the digits captions need.

    Needs OpenAI's merges list (an installed open_clip_torch, or ``bpe_path``).
    ``python -m genzoo_clip.tokenizer`` runs this.
    """
    from .prompts import DIGIT_NAMES, DIGIT_TEMPLATES, DIGIT_VOCAB_EXTRA, fill

    texts = [text for name in DIGIT_NAMES for text in fill(DIGIT_TEMPLATES, name)]
    texts += DIGIT_VOCAB_EXTRA.split() + list(DIGIT_NAMES)
    vocab, merges = subset_vocabulary(texts, *_cached_openai_vocabulary(str(bpe_path) if bpe_path else None))
    tok = CLIPTokenizer(vocab, merges)
    tok.save(folder)
    return tok


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    built = build_digits_vocabulary()
    print(f"wrote {_BUNDLED / 'digits'}: {built}")
