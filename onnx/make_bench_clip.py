#!/usr/bin/env python3
# Generates a CLIP-vision-shaped ONNX model with random weights for THROUGHPUT
# BENCHMARKS ONLY: same interface and (at --layers 12) the same architecture and
# inference cost as ViT-B/32 (HF CLIPVisionModelWithProjection), but the embeddings
# are meaningless.
#
# Tested with (CPython 3.11): numpy==2.4.6 onnx==1.23.2 (onnxruntime==1.31.1 to --time)
#
# Usage: python onnx/make_bench_clip.py OUT_DIR [--layers N] [--seed S] [--time]
# Writes OUT_DIR/vision_model.onnx (~28 MB per layer + 10 MB; 12 layers ~ 350 MB) and
# OUT_DIR/preprocessor_config.json (the CLIP ViT-B/32 preprocessing config).
#
#   in : pixel_values      float32 [batch_size, 3, 224, 224]
#   out: image_embeds      float32 [batch_size, 512]      (projected, NOT L2-normalized)
#        last_hidden_state float32 [batch_size, 50, 768]  (encoder output, before post-LN)
#
# Graph (like HF CLIP): Conv 3->768 k32 s32 (no bias) -> 49 patches, prepend class token,
# + position embedding, pre-LayerNorm; N x [x += Attn(LN(x)) (12 heads of 64);
# x += MLP(LN(x)) (768->3072, quick_gelu x*sigmoid(1.702x), 3072->768)];
# last_hidden_state = x; image_embeds = LN(x[:, 0]) @ W[768, 512].
# Weights: seeded numpy standard normal * 0.02; LayerNorm gamma 1, beta 0.
# ONNX IR version 8 / opset 17 (ONNX Runtime 1.31 rejects newer IR versions).

import argparse
import json
import os
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
IMAGE, PATCH, HIDDEN, HEADS, MLP, PROJ = 224, 32, 768, 12, 3072, 512
TOKENS = (IMAGE // PATCH) ** 2 + 1  # 50
HEAD_DIM = HIDDEN // HEADS

PREPROCESSOR = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "rescale_factor": 1.0 / 255.0,
    "size": {"shortest_edge": 224},
}


def build(layers, seed):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def w(name, *shape, scale=0.02):
        inits.append(numpy_helper.from_array(
            rng.standard_normal(shape, dtype=np.float32) * np.float32(scale), name=name))
        return name

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name=name))
        return name

    def node(op, ins, out, **kw):
        nodes.append(helper.make_node(op, ins, [out], name=out, **kw))
        return out

    ones = const("ln_gamma", np.ones(HIDDEN, np.float32))
    zeros = const("ln_beta", np.zeros(HIDDEN, np.float32))

    def ln(x, out):
        return node("LayerNormalization", [x, ones, zeros], out, axis=-1, epsilon=1e-5)

    def linear(x, name, n_in, n_out):
        return node("Add", [node("MatMul", [x, w(f"{name}.weight", n_in, n_out)], f"{name}.mm"),
                            w(f"{name}.bias", n_out)], name)

    const("shape_tokens", np.array([0, HIDDEN, TOKENS - 1], np.int64))
    const("shape_heads", np.array([0, TOKENS, HEADS, HEAD_DIM], np.int64))
    const("shape_merge", np.array([0, TOKENS, HIDDEN], np.int64))
    const("cls_tail", np.array([1, HIDDEN], np.int64))
    const("i0", np.array([0], np.int64))
    const("i1", np.array([1], np.int64))
    const("attn_scale", np.array(HEAD_DIM ** -0.5, np.float32))
    const("gelu_k", np.array(1.702, np.float32))

    # embeddings: [B,3,224,224] -> [B,768,7,7] -> [B,49,768]; class token -> [B,50,768]
    node("Conv", ["pixel_values", w("patch_embedding.weight", HIDDEN, 3, PATCH, PATCH)], "patch_conv",
         kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    node("Reshape", ["patch_conv", "shape_tokens"], "patch_flat")
    node("Transpose", ["patch_flat"], "patches", perm=[0, 2, 1])
    node("Shape", ["pixel_values"], "in_shape")
    node("Slice", ["in_shape", "i0", "i1"], "batch")
    node("Concat", ["batch", "cls_tail"], "cls_shape", axis=0)
    node("Expand", [w("class_embedding", 1, 1, HIDDEN), "cls_shape"], "cls")
    node("Concat", ["cls", "patches"], "tokens", axis=1)
    node("Add", ["tokens", w("position_embedding", TOKENS, HIDDEN)], "embedded")
    x = ln("embedded", "pre_layrnorm")

    for i in range(layers):
        p = f"layers.{i}"
        h = ln(x, f"{p}.ln1")
        q = node("Mul", [linear(h, f"{p}.q_proj", HIDDEN, HIDDEN), "attn_scale"], f"{p}.q_scaled")
        q = node("Transpose", [node("Reshape", [q, "shape_heads"], f"{p}.q4")], f"{p}.qh", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(h, f"{p}.k_proj", HIDDEN, HIDDEN), "shape_heads"],
                                    f"{p}.k4")], f"{p}.kh", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(h, f"{p}.v_proj", HIDDEN, HIDDEN), "shape_heads"],
                                    f"{p}.v4")], f"{p}.vh", perm=[0, 2, 1, 3])
        a = node("Softmax", [node("MatMul", [q, k], f"{p}.scores")], f"{p}.probs", axis=-1)
        a = node("Transpose", [node("MatMul", [a, v], f"{p}.ctx")], f"{p}.ctx_t", perm=[0, 2, 1, 3])
        a = linear(node("Reshape", [a, "shape_merge"], f"{p}.ctx_m"), f"{p}.out_proj", HIDDEN, HIDDEN)
        x = node("Add", [x, a], f"{p}.res1")
        h = linear(ln(x, f"{p}.ln2"), f"{p}.fc1", HIDDEN, MLP)
        g = node("Sigmoid", [node("Mul", [h, "gelu_k"], f"{p}.gelu_in")], f"{p}.gelu_sig")
        h = linear(node("Mul", [h, g], f"{p}.gelu"), f"{p}.fc2", MLP, HIDDEN)
        x = node("Add", [x, h], f"{p}.res2")

    node("Identity", [x], "last_hidden_state")
    node("Gather", [x, "i0"], "cls_out", axis=1)  # [B,1,768]
    node("Squeeze", ["cls_out", "i1"], "pooled")
    node("MatMul", [ln("pooled", "post_layernorm"), w("visual_projection", HIDDEN, PROJ)], "image_embeds")

    graph = helper.make_graph(
        nodes, "bench_clip_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, IMAGE, IMAGE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", PROJ]),
         helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", TOKENS, HIDDEN])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="clusterby-make_bench_clip", producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION  # explicit: ORT 1.31 rejects newer IR versions
    model.doc_string = f"random-weight ViT-B/32-shaped benchmark model, {layers} layers, seed {seed}"
    onnx.checker.check_model(model)
    return model


def bench(path, batch=32, runs=3):
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((batch, 3, IMAGE, IMAGE), dtype=np.float32)
    for threads in (2, 1):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        t = time.perf_counter()
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        load = time.perf_counter() - t
        emb, hidden = sess.run(None, {"pixel_values": x})  # warm-up
        assert emb.shape == (batch, PROJ) and hidden.shape == (batch, TOKENS, HIDDEN)
        assert np.isfinite(emb).all()
        times, cpu = [], time.process_time()
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, {"pixel_values": x})
            times.append(time.perf_counter() - t)
        cpu = (time.process_time() - cpu) / runs / batch
        # CPU ms/image (all threads summed) is robust against other load on the host
        print(f"threads={threads}: load {load:.1f}s, batch {batch}: "
              f"{1000 * min(times) / batch:.1f} ms/image (best of {runs}), "
              f"{1000 * sum(times) / len(times) / batch:.1f} ms/image mean, "
              f"{1000 * cpu:.1f} CPU-ms/image", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=10, help="12 = exact ViT-B/32 cost")
    ap.add_argument("--seed", type=int, default=20240917)
    ap.add_argument("--time", action="store_true", help="benchmark with onnxruntime (1 and 2 threads)")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    t = time.perf_counter()
    model = build(args.layers, args.seed)
    path = os.path.join(args.out_dir, "vision_model.onnx")
    onnx.save(model, path)
    with open(os.path.join(args.out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.0f} MB, {args.layers} layers) "
          f"in {time.perf_counter() - t:.1f}s")
    if args.time:
        bench(path)


if __name__ == "__main__":
    main()
