#!/usr/bin/env python3
# Generates a tiny, deterministic, CLIP-shaped ONNX model pair + tokenizer for tests.
#
# Tested with (CPython 3.11):
#   numpy==2.4.6  onnx==1.23.2  tokenizers==0.23.3  onnxruntime==1.31.1 (verification only)
#   pip install numpy==2.4.6 onnx==1.23.2 tokenizers==0.23.3 onnxruntime==1.31.1
#
# Usage: python onnx/make_tiny_clip.py [--out tests/data/tiny-clip] [--no-verify]
#
# The files mimic the public CLIP ONNX exports (Xenova/clip-vit-base-patch32
# onnx/{vision,text}_model.onnx, Qdrant/clip-ViT-B-32-{vision,text}):
#
#   vision_model.onnx
#     in : pixel_values      float32 [batch_size, 3, 224, 224]  (CLIP-normalized)
#     out: image_embeds      float32 [batch_size, 32]            (projected, NOT L2-normalized)
#          last_hidden_state float32 [batch_size, 50, 16]         (1 pooled "CLS" + 49 patches)
#   text_model.onnx
#     in : input_ids         int64   [batch_size, sequence_length]
#          attention_mask    int64   [batch_size, sequence_length]
#     out: text_embeds       float32 [batch_size, 32]            (projected, NOT L2-normalized)
#          last_hidden_state float32 [batch_size, sequence_length, 16]
#
# The weights are random (fixed seed); the models are NOT semantically meaningful,
# they only have the right interface and some useful properties:
#   * image_embeds depends on image content and on colour (similar colours -> close
#     embeddings), so clustering synthetic solid-colour images by colour works;
#   * text_embeds is pooled at the EOS position (ArgMax of input_ids, as real CLIP
#     does, EOS = 49407 being the largest id), after a causal masked cumulative mean,
#     so every token up to EOS influences it and anything after the first EOS
#     (padding with 49407 / attention_mask 0) is ignored.
# ONNX IR version 8 / opset 17 (ONNX Runtime 1.31 rejects newer IR versions).

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20240917
OPSET = 17
IR_VERSION = 8
IMAGE_SIZE = 224
PATCH = 32  # 224 / 32 = 7 -> 7x7 = 49 patches
GRID = IMAGE_SIZE // PATCH
N_PATCHES = GRID * GRID
HIDDEN = 16  # hidden width of both towers
PROJ_DIM = 32  # projection_dim (D)
TEXT_TABLE = 512  # token ids are reduced modulo this before the embedding lookup
MAX_POS = 77  # CLIP context length
BOS_ID = 49406
EOS_ID = 49407
VOCAB_SIZE = 49408

IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]


def f32(a):
    return np.asarray(a, dtype=np.float32)


def init(name, arr):
    return numpy_helper.from_array(arr, name=name)


def finish(graph, name):
    model = helper.make_model(
        graph,
        producer_name="clusterby-make_tiny_clip",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION  # explicit: ORT 1.31 rejects newer IR versions
    model.doc_string = f"tiny random CLIP-shaped test model ({name}), seed {SEED}"
    onnx.checker.check_model(model, full_check=True)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def make_vision(rng):
    # patch projection 3 -> HIDDEN, per-patch position embedding, tanh, mean over
    # patches, projection HIDDEN -> PROJ_DIM (no bias, like CLIP's visual_projection).
    w_patch = f32(rng.normal(0.0, 0.6, size=(3, HIDDEN)))
    b_patch = f32(rng.normal(0.0, 0.1, size=(HIDDEN,)))
    pos = f32(rng.normal(0.0, 0.3, size=(N_PATCHES, HIDDEN)))
    w_proj = f32(rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), size=(HIDDEN, PROJ_DIM)))

    inits = [
        init("patch_weight", w_patch),
        init("patch_bias", b_patch),
        init("position_embedding", pos),
        init("visual_projection", w_proj),
        init("grid_shape", np.array([0, 3, N_PATCHES], dtype=np.int64)),
        init("axis1", np.array([1], dtype=np.int64)),
    ]
    nodes = [
        # [B,3,224,224] -> [B,3,7,7]
        helper.make_node(
            "AveragePool", ["pixel_values"], ["pooled_pixels"],
            kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH], name="patchify",
        ),
        # [B,3,49] (0 = copy batch dim) -> [B,49,3]
        helper.make_node("Reshape", ["pooled_pixels", "grid_shape"], ["patch_flat"]),
        helper.make_node("Transpose", ["patch_flat"], ["patches"], perm=[0, 2, 1]),
        # [B,49,16]
        helper.make_node("MatMul", ["patches", "patch_weight"], ["patch_lin"]),
        helper.make_node("Add", ["patch_lin", "patch_bias"], ["patch_biased"]),
        helper.make_node("Add", ["patch_biased", "position_embedding"], ["patch_pos"]),
        helper.make_node("Tanh", ["patch_pos"], ["patch_hidden"]),
        # mean over patches -> [B,16]  (acts as the pooled / CLS output)
        helper.make_node("ReduceMean", ["patch_hidden"], ["pooled"], axes=[1], keepdims=0),
        # last_hidden_state = [pooled, patches...] -> [B,50,16]
        helper.make_node("Unsqueeze", ["pooled", "axis1"], ["pooled_tok"]),
        helper.make_node("Concat", ["pooled_tok", "patch_hidden"], ["last_hidden_state"], axis=1),
        # image_embeds -> [B,32]
        helper.make_node("MatMul", ["pooled", "visual_projection"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip_vision",
        [helper.make_tensor_value_info(
            "pixel_values", TensorProto.FLOAT, ["batch_size", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [
            helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", PROJ_DIM]),
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch_size", N_PATCHES + 1, HIDDEN]),
        ],
        initializer=inits,
    )
    return finish(graph, "vision")


def make_text(rng):
    table = f32(rng.normal(0.0, 1.0, size=(TEXT_TABLE, HIDDEN)))
    pos = f32(rng.normal(0.0, 0.2, size=(MAX_POS, HIDDEN)))
    # per-position gain on the token embedding: makes the (order-free) cumulative
    # mean sensitive to word order
    pos_gain = f32(1.0 + rng.normal(0.0, 0.4, size=(MAX_POS, HIDDEN)))
    w_mix = f32(rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), size=(HIDDEN, HIDDEN)))
    b_mix = f32(rng.normal(0.0, 0.1, size=(HIDDEN,)))
    w_proj = f32(rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), size=(HIDDEN, PROJ_DIM)))

    inits = [
        init("token_embedding", table),
        init("position_embedding", pos),
        init("position_gain", pos_gain),
        init("mix_weight", w_mix),
        init("mix_bias", b_mix),
        init("text_projection", w_proj),
        init("table_size", np.array(TEXT_TABLE, dtype=np.int64)),
        init("axis1_scalar", np.array(1, dtype=np.int64)),
        init("axis1", np.array([1], dtype=np.int64)),
        init("axis2", np.array([2], dtype=np.int64)),
        init("zero_1d", np.array([0], dtype=np.int64)),
        init("one_f", np.array(1.0, dtype=np.float32)),
    ]
    nodes = [
        # token embedding: ids mod 512 -> [B,S,16]
        helper.make_node("Mod", ["input_ids", "table_size"], ["ids_mod"], fmod=0),
        helper.make_node("Gather", ["token_embedding", "ids_mod"], ["tok_emb"], axis=0),
        # position embedding sliced to S: [S,16]
        helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "axis1"], ["seq_len"], axis=0),  # [1]
        helper.make_node("Slice", ["position_embedding", "zero_1d", "seq_len", "zero_1d"], ["pos_emb"]),
        helper.make_node("Slice", ["position_gain", "zero_1d", "seq_len", "zero_1d"], ["pos_gain"]),
        helper.make_node("Mul", ["tok_emb", "pos_gain"], ["tok_gained"]),
        # x = tok_emb * gain[pos] + pos_emb[pos]
        helper.make_node("Add", ["tok_gained", "pos_emb"], ["x"]),
        # masked causal cumulative mean over positions: [B,S,16]
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),  # [B,S]
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),  # [B,S,1]
        helper.make_node("Mul", ["x", "mask3"], ["x_masked"]),
        helper.make_node("CumSum", ["x_masked", "axis1_scalar"], ["x_cumsum"]),
        helper.make_node("CumSum", ["mask3", "axis1_scalar"], ["count"]),
        helper.make_node("Max", ["count", "one_f"], ["count_safe"]),
        helper.make_node("Div", ["x_cumsum", "count_safe"], ["x_cummean"]),
        # one mixing step with a residual: h = tanh(cummean @ W + b + x)
        helper.make_node("MatMul", ["x_cummean", "mix_weight"], ["mix_lin"]),
        helper.make_node("Add", ["mix_lin", "mix_bias"], ["mix_biased"]),
        helper.make_node("Add", ["mix_biased", "x"], ["mix_res"]),
        helper.make_node("Tanh", ["mix_res"], ["last_hidden_state"]),
        # pool at EOS: ArgMax(input_ids) (first max; EOS 49407 is the largest id)
        helper.make_node("ArgMax", ["input_ids"], ["eos_index"], axis=1, keepdims=1),  # [B,1]
        helper.make_node("GatherND", ["last_hidden_state", "eos_index"], ["pooled"], batch_dims=1),  # [B,16]
        helper.make_node("MatMul", ["pooled", "text_projection"], ["text_embeds"]),  # [B,32]
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"]),
        ],
        [
            helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", PROJ_DIM]),
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN]),
        ],
        initializer=inits,
    )
    return finish(graph, "text")


WORDS = """
a an the this that these those there here it its is are was were be been being am
i you he she we they me him her us them my your his our their mine yours
of in on at to from by with without for about into onto over under above below
between behind near far inside outside up down out off through across around
and or but not no yes so if then than as very too also only just more most less
some any all each every many much few other another same different such own
one two three four five six seven eight nine ten first second third last next
photo photograph picture image drawing painting sketch render rendering close view
red green blue yellow orange purple pink brown black white gray grey gold silver
dark light bright pale colorful colourful striped spotted
cats dogs birds cars flower
cat dog bird fish horse cow sheep pig mouse rabbit lion tiger bear elephant monkey
duck chicken frog snake insect butterfly bee animal animals pet pets puppy kitten
car bus truck train plane airplane boat ship bicycle bike motorcycle road street
house building city town village bridge tower church castle room kitchen bedroom
tree trees flower flowers grass forest garden park field mountain mountains hill
river lake sea ocean beach sand sky cloud clouds sun moon star stars rain snow
man woman men women person people child children boy girl baby family friend
face hand hands eye eyes hair head body smile
food apple banana orange pizza cake bread cheese coffee tea water wine beer cup
table chair bed sofa door window wall floor book books phone computer screen
shirt dress hat shoes bag ball toy game
big small large little tiny huge tall short long old new young good bad beautiful
happy sad hot cold warm wet dry clean dirty empty full open closed round square
sitting standing walking running playing eating drinking sleeping flying swimming
holding looking wearing riding
day night morning evening summer winter spring autumn
""".split()

PUNCT = [".", ",", "!", "?", "'", "-", ":", ";", "(", ")", "\"", "&", "/"]


def make_tokenizer():
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors, decoders
    from tokenizers.models import WordLevel

    vocab = {}
    unk = "<|unk|>"
    vocab[unk] = 0
    for tok in PUNCT + WORDS:
        if tok not in vocab:
            vocab[tok] = len(vocab)
    n_words = len(vocab)
    assert n_words < BOS_ID
    vocab["<|startoftext|>"] = BOS_ID
    vocab["<|endoftext|>"] = EOS_ID

    tok = Tokenizer(WordLevel(vocab, unk_token=unk))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFC(),
        normalizers.Strip(),
        normalizers.Lowercase(),
    ])
    # \w+ | [^\w\s]+ (then split punctuation runs into single characters)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Whitespace(),
        pre_tokenizers.Punctuation(behavior="isolated"),
    ])
    tok.add_special_tokens(["<|startoftext|>", "<|endoftext|>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        pair="<|startoftext|> $A <|endoftext|> $B:1 <|endoftext|>:1",
        special_tokens=[("<|startoftext|>", BOS_ID), ("<|endoftext|>", EOS_ID)],
    )
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.enable_truncation(max_length=MAX_POS)
    tok.enable_padding(direction="right", pad_id=EOS_ID, pad_type_id=0, pad_token="<|endoftext|>")
    return tok, n_words


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    vision = make_vision(rng)
    text = make_text(rng)
    onnx.save_model(vision, os.path.join(out_dir, "vision_model.onnx"))
    onnx.save_model(text, os.path.join(out_dir, "text_model.onnx"))

    tok, n_words = make_tokenizer()
    tok.save(os.path.join(out_dir, "tokenizer.json"), pretty=True)

    write_json(os.path.join(out_dir, "preprocessor_config.json"), {
        "crop_size": IMAGE_SIZE,
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": IMAGE_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": IMAGE_STD,
        "resample": 3,
        "rescale_factor": 1.0 / 255.0,
        "size": {"shortest_edge": IMAGE_SIZE},
    })
    write_json(os.path.join(out_dir, "config.json"), {
        "model_type": "clip",
        "projection_dim": PROJ_DIM,
        "tiny_test_model": True,
        "generator": "onnx/make_tiny_clip.py",
        "seed": SEED,
        "onnx_ir_version": IR_VERSION,
        "onnx_opset": OPSET,
        "text_config": {
            "hidden_size": HIDDEN,
            "vocab_size": VOCAB_SIZE,
            "tokenizer_vocab_words": n_words,
            "embedding_table_size": TEXT_TABLE,
            "max_position_embeddings": MAX_POS,
            "bos_token_id": BOS_ID,
            "eos_token_id": EOS_ID,
            "pad_token_id": EOS_ID,
        },
        "vision_config": {
            "hidden_size": HIDDEN,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH,
            "num_channels": 3,
        },
    })


# ---------------------------------------------------------------- verification

def clip_normalize(rgb01):
    """rgb01: [B,224,224,3] in [0,1] -> [B,3,224,224] normalized float32."""
    x = (rgb01 - f32(IMAGE_MEAN)) / f32(IMAGE_STD)
    return f32(np.transpose(x, (0, 3, 1, 2)))


def solid(rgb):
    return np.broadcast_to(f32(rgb) / 255.0, (IMAGE_SIZE, IMAGE_SIZE, 3))


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def verify(out_dir):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    print(f"onnxruntime {ort.__version__}")
    so = ort.SessionOptions()
    vs = ort.InferenceSession(os.path.join(out_dir, "vision_model.onnx"), so,
                              providers=["CPUExecutionProvider"])
    ts = ort.InferenceSession(os.path.join(out_dir, "text_model.onnx"), so,
                              providers=["CPUExecutionProvider"])
    for name, s in (("vision", vs), ("text", ts)):
        for i in s.get_inputs():
            print(f"  {name} input  {i.name:18s} {i.type:16s} {i.shape}")
        for o in s.get_outputs():
            print(f"  {name} output {o.name:18s} {o.type:16s} {o.shape}")

    # ---- vision
    rng = np.random.default_rng(1)
    noise = f32(rng.uniform(0, 1, size=(IMAGE_SIZE, IMAGE_SIZE, 3)))
    grad = np.linspace(0, 1, IMAGE_SIZE, dtype=np.float32)
    grad_img = np.stack([np.tile(grad, (IMAGE_SIZE, 1))] * 3, axis=-1)
    px = clip_normalize(np.stack([noise, grad_img]))
    img_emb, img_hidden = vs.run(["image_embeds", "last_hidden_state"], {"pixel_values": px})
    assert img_emb.shape == (2, PROJ_DIM) and img_emb.dtype == np.float32, img_emb.shape
    assert img_hidden.shape == (2, N_PATCHES + 1, HIDDEN), img_hidden.shape
    assert np.all(np.isfinite(img_emb))
    assert not np.allclose(img_emb[0], img_emb[1], atol=1e-3), "images give same embedding"
    assert abs(np.linalg.norm(img_emb[0]) - 1.0) > 1e-3, "image_embeds should not be normalized"
    # batch consistency: single == batched
    single, = vs.run(["image_embeds"], {"pixel_values": px[1:2]})
    assert np.allclose(single[0], img_emb[1], atol=1e-5)
    print(f"  image_embeds {img_emb.shape}, |e0|={np.linalg.norm(img_emb[0]):.4f}, "
          f"cos(noise, gradient)={cos(img_emb[0], img_emb[1]):.4f}")

    # colour clustering: shades of red / green / blue
    colours = {
        "red": [(220, 20, 30), (250, 60, 50), (180, 10, 10), (235, 40, 70)],
        "green": [(20, 200, 40), (60, 240, 80), (10, 150, 20), (40, 220, 90)],
        "blue": [(20, 40, 220), (60, 80, 250), (10, 10, 160), (50, 90, 230)],
    }
    imgs, labels = [], []
    for lab, shades in colours.items():
        for c in shades:
            imgs.append(solid(c))
            labels.append(lab)
    e, = vs.run(["image_embeds"], {"pixel_values": clip_normalize(np.stack(imgs))})
    en = e / np.linalg.norm(e, axis=1, keepdims=True)
    sim = en @ en.T
    lab = np.array(labels)
    same = sim[(lab[:, None] == lab[None, :]) & ~np.eye(len(lab), dtype=bool)]
    diff = sim[lab[:, None] != lab[None, :]]
    print(f"  colour cosine: within-colour min {same.min():.4f}, between-colour max {diff.max():.4f}")
    assert same.min() > diff.max(), "solid colours do not separate by colour"
    # nearest-neighbour check: every image's nearest other image has the same colour
    s2 = sim - 2 * np.eye(len(lab))
    assert np.all(lab[s2.argmax(axis=1)] == lab)

    # ---- tokenizer
    tok = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    assert tok.token_to_id("<|startoftext|>") == BOS_ID
    assert tok.token_to_id("<|endoftext|>") == EOS_ID
    texts = ["a photo of a cat", "A RED car!", "two dogs playing in the snow, near a big old tree"]
    encs = tok.encode_batch(texts)
    for t, enc in zip(texts, encs):
        print(f"  tokens {t!r}: {enc.tokens} ids {enc.ids} mask {enc.attention_mask}")
    lens = [sum(enc.attention_mask) for enc in encs]
    assert len(set(lens)) == 3, lens
    assert all(len(enc.ids) == max(lens) for enc in encs), "batch padding to longest"
    assert all(enc.ids[0] == BOS_ID for enc in encs)
    assert all(enc.ids[lens[i] - 1] == EOS_ID for i, enc in enumerate(encs))
    assert all(all(x == EOS_ID for x in enc.ids[lens[i]:]) for i, enc in enumerate(encs))
    assert tok.encode("zxqv").ids == [BOS_ID, 0, EOS_ID], "unknown word -> <|unk|> (id 0)"
    long = tok.encode(" ".join(["cat"] * 200))
    assert len(long.ids) == MAX_POS and long.ids[-1] == EOS_ID, "truncation keeps EOS"

    ids = np.array([enc.ids for enc in encs], dtype=np.int64)
    mask = np.array([enc.attention_mask for enc in encs], dtype=np.int64)
    txt_emb, txt_hidden = ts.run(["text_embeds", "last_hidden_state"],
                                 {"input_ids": ids, "attention_mask": mask})
    assert txt_emb.shape == (3, PROJ_DIM) and txt_emb.dtype == np.float32, txt_emb.shape
    assert txt_hidden.shape == (3, ids.shape[1], HIDDEN), txt_hidden.shape
    assert np.all(np.isfinite(txt_emb))
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(txt_emb[i], txt_emb[j], atol=1e-3)
    # padding must not change the embedding: run each text alone, unpadded
    tok.no_padding()
    for i, t in enumerate(texts):
        enc = tok.encode(t)
        e1, = ts.run(["text_embeds"], {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64)})
        err = float(np.abs(e1[0] - txt_emb[i]).max())
        assert err < 1e-5, f"padding changed embedding of {t!r}: {err}"
        # extra padding with attention_mask=1 (some callers do not pass a mask) is ignored too
        pad_ids = np.array([enc.ids + [EOS_ID] * 5], dtype=np.int64)
        e2, = ts.run(["text_embeds"], {"input_ids": pad_ids, "attention_mask": np.ones_like(pad_ids)})
        assert float(np.abs(e2[0] - txt_emb[i]).max()) < 1e-5
    # tokens before EOS matter (word order too, via position embeddings)
    a = tok.encode("a red car").ids
    b = tok.encode("a blue car").ids
    c = tok.encode("car red a").ids
    ea, eb, ec = (ts.run(["text_embeds"], {"input_ids": np.array([x], dtype=np.int64),
                                           "attention_mask": np.ones((1, len(x)), dtype=np.int64)})[0][0]
                  for x in (a, b, c))
    assert not np.allclose(ea, eb, atol=1e-3), "a word before EOS does not matter"
    assert not np.allclose(ea, ec, atol=1e-3), "word order does not matter"
    print(f"  text_embeds {txt_emb.shape}, |t0|={np.linalg.norm(txt_emb[0]):.4f}; "
          f"padding invariance OK")
    # high vocabulary ids (Mod 512) work
    hi = np.array([[BOS_ID, 40000, 49000, EOS_ID]], dtype=np.int64)
    eh, = ts.run(["text_embeds"], {"input_ids": hi, "attention_mask": np.ones_like(hi)})
    assert np.all(np.isfinite(eh))
    print("verification OK")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "tests", "data", "tiny-clip")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()

    generate(args.out)
    total = 0
    for name in sorted(os.listdir(args.out)):
        p = os.path.join(args.out, name)
        size = os.path.getsize(p)
        total += size
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        print(f"{size:8d}  {name}  sha256:{digest}")
        assert size < 100 * 1024, f"{name} is too large"
    print(f"{total:8d}  total")

    if not args.no_verify:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            print("onnxruntime not installed: skipping verification", file=sys.stderr)
            return
        verify(args.out)


if __name__ == "__main__":
    main()
