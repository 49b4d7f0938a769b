"""Image indexes from Python: `Index.build_images` with the generated CLIP-shaped model
(tests/data/tiny-clip) on CIFAR-10 images, captions imported from a file, and queries in the
image, caption and joined spaces."""
import json
import shutil

import pytest

import clusterby
from conftest import ROOT, need

CIFAR = ROOT.parent / "shared" / "data" / "images" / "cifar10-test" / "images"
TINY_CLIP = ROOT / "tests" / "data" / "tiny-clip"
CLASSES = ("airplane", "cat", "ship")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    need(CIFAR.is_dir(), f"{CIFAR} (../shared/data beside the repository)")
    d = tmp_path_factory.mktemp("images") / "photos"
    d.mkdir()
    for c in CLASSES:
        for p in sorted(CIFAR.glob(f"*_{c}.png"))[:20]:
            shutil.copy(p, d / p.name)
    return d


@pytest.fixture(scope="module")
def captioned(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "photos-index"
    captions = out.parent / "captions.jsonl"
    with open(captions, "w") as f:
        for p in sorted(folder.iterdir()):
            c = p.stem.split("_", 1)[1]
            f.write(json.dumps({"id": p.name, "caption": f"A small photo of a {c} seen from afar."}) + "\n")
    try:
        return clusterby.Index.build_images(folder, out, clip=str(TINY_CLIP), captions=captions)
    except clusterby.ClusterbyError as e:
        need(False, f"the text model or ONNX Runtime ({e}); run bash scripts/setup.sh")


def test_an_image_index_is_built_labelled_by_file_name_and_reopened(captioned, folder):
    assert isinstance(captioned, clusterby.ImageIndex)
    assert len(captioned) == 60 and captioned.captioned == 60
    f = captioned.frame()
    assert sorted(f["id"]) == sorted(p.name for p in folder.iterdir())
    assert set(f["label"]) == set(CLASSES)
    again = clusterby.ImageIndex.open(captioned.path)
    assert len(again) == 60


def test_queries_in_each_space(captioned):
    both = captioned.cluster(by="object", k=3)  # every image has a caption: both spaces joined
    assert both.raw["diagnostics"]["space"] == "both"
    assert both.eval().acc == 1.0  # the captions name the class
    caption = captioned.cluster(by="object", k=3, space="caption")
    assert caption.eval().acc == 1.0
    image = captioned.cluster(by="object", k=3, space="image")
    assert image.raw["diagnostics"]["space"] == "image" and len(image.assignments) == 60
    assert set(image.assignments["label"]) == set(CLASSES)
    with pytest.raises(ValueError, match="space"):
        captioned.cluster(by="object", k=3, space="sound")
    # The features each query clustered, recomputed (image: the values over CLIP; both: joined).
    for r in (image, both):
        f = r.features
        assert f.shape[0] == 60 and f.dtype == "float32"
    assert both.features.shape[1] > image.features.shape[1]  # caption block joined
    ax = both.plot("map")
    assert len(ax.collections) >= 1


def test_images_without_captions_cluster_in_the_image_space_only(folder, tmp_path):
    idx = clusterby.build_images(folder, tmp_path / "plain", clip=str(TINY_CLIP))
    assert idx.captioned == 0
    assert idx.cluster(by="object", k=3).raw["diagnostics"]["space"] == "image"
    with pytest.raises(ValueError, match="no captions"):
        idx.cluster(by="object", k=3, space="caption")
