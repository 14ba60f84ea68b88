"""The reference side of the crosscheck: runs the `vbench` package's own functions on run.py's inputs.

Runs in the crosscheck venv (`.cache/crosscheck-venv`, made by `make crosscheck`), where `import vbench`
works, never in the project venv. Usage (run.py calls it):

    .cache/crosscheck-venv/bin/python benchmarks/crosscheck/vbench_side.py WORK_DIR

It reads WORK_DIR/manifest.json (videos, frame folders, weight files, formula inputs) and writes
WORK_DIR/vbench_results.json. Everything scored goes through VBench's real code paths: its video readers
(decord in load_video, cv2 in dynamic_degree / motion_smoothness), its torchvision transforms, its
loops, formulas and aggregation, RAFT / AMT-S loaded by VBench's own `load_model` from the shared
random-init weight files. The only substitutes are the injected feature networks (shared.FeatureNet) in
place of DINO / CLIP / MUSIQ, and one stub for an import the tested function does not use:
`pyiqa.archs.musiq_arch` (imaging_quality.py imports MUSIQ at module level; `technical_quality` takes the
model as an argument).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import MANIFEST, VBENCH_RESULTS, load_feature_net, load_linear  # noqa: E402

DEVICE = "cpu"


def _stub_pyiqa() -> None:
    """imaging_quality.py does `from pyiqa.archs.musiq_arch import MUSIQ` but technical_quality never uses it."""
    if "pyiqa" in sys.modules:
        return
    try:
        import pyiqa  # noqa: F401

        return
    except ImportError:
        pass
    for name in ("pyiqa", "pyiqa.archs", "pyiqa.archs.musiq_arch"):
        sys.modules[name] = types.ModuleType(name)

    class MUSIQ:  # never constructed by the crosscheck
        def __init__(self, *args, **kwargs):
            raise RuntimeError("stub: the crosscheck injects its own quality model")

    sys.modules["pyiqa.archs.musiq_arch"].MUSIQ = MUSIQ


def _per_video(video_results: list[dict]) -> dict[str, float]:
    return {Path(r["video_path"]).stem: float(r["video_results"]) for r in video_results}


def consistency_and_quality(man: dict, out: dict) -> None:
    from vbench.aesthetic_quality import laion_aesthetic
    from vbench.background_consistency import background_consistency
    from vbench.subject_consistency import subject_consistency

    _stub_pyiqa()
    from vbench.imaging_quality import technical_quality

    nets = man["nets"]
    paths = [v["mp4"] for v in man["videos"] if "consistency" in v["roles"]]
    dino_like = load_feature_net(nets["subject"]["path"], nets["subject"]["dim"])
    clip_like = load_feature_net(nets["background"]["path"], nets["background"]["dim"])
    quality = load_feature_net(nets["quality"]["path"], nets["quality"]["dim"])
    head = load_linear(nets["aesthetic_head"]["path"])

    agg, per = subject_consistency(dino_like, paths, DEVICE, False)
    out["subject_consistency"] = {"aggregate": float(agg), "videos": _per_video(per)}
    # `preprocess` is VBench's PIL transform for read_frame=True; the mp4 path uses clip_transform(224).
    agg, per = background_consistency(clip_like, None, paths, DEVICE, False)
    out["background_consistency"] = {"aggregate": float(agg), "videos": _per_video(per)}
    agg, per = laion_aesthetic(head, clip_like, paths, DEVICE)
    out["aesthetic_quality"] = {"aggregate": float(agg), "videos": _per_video(per)}
    with torch.no_grad():
        agg, per = technical_quality(quality, paths, DEVICE)
    out["imaging_quality"] = {"aggregate": float(agg), "videos": _per_video(per)}


def dynamic_degree(man: dict, work: Path, out: dict) -> None:
    from easydict import EasyDict
    from vbench.dynamic_degree import DynamicDegree

    args = EasyDict(model=man["raft"], small=False, mixed_precision=False, alternate_corr=False)
    dyn = DynamicDegree(args, DEVICE)  # VBench's own load_model reads the shared random-init RAFT

    # Formula level: get_score on the same flow fields, set_params and check_move on the same inputs.
    formula = man["formula"]
    flows = np.load(work / formula["flows"])
    get_score = [
        dyn.get_score(torch.zeros(1, 3, *flows[k].shape[-2:]), torch.from_numpy(flows[k])[None])
        for k in sorted(flows.files)
    ]
    params, moves = [], []
    for case in formula["check_move"]:
        dyn.set_params(frame=torch.zeros(1, 3, case["height"], case["width"]), count=case["count"])
        params.append(dict(dyn.params))
        moves.append(bool(dyn.check_move(case["scores"])))
    out["dynamic_degree_formula"] = {"get_score": get_score, "params": params, "check_move": moves}

    # Model level: DynamicDegree.infer with the per-pair values recorded as get_score returns them.
    recorded: list[float] = []
    original = dyn.get_score

    def recording_get_score(img, flo):
        value = original(img, flo)
        recorded.append(float(value))
        return value

    dyn.get_score = recording_get_score
    videos = {}
    for v in man["videos"]:
        if "motion" not in v["roles"]:
            continue
        for source, path in (("mp4", v["mp4"]), ("frames", v["frames_dir"])):
            recorded.clear()
            with torch.no_grad():
                moving = dyn.infer(path)
            videos[f"{v['name']}/{source}"] = {
                "dynamic": bool(moving),
                "pair_scores": list(recorded),
                "thres": float(dyn.params["thres"]),
                "count_num": int(dyn.params["count_num"]),
            }
    out["dynamic_degree"] = videos


def motion_smoothness(man: dict, work: Path, out: dict) -> None:
    import vbench
    from vbench.motion_smoothness import MotionSmoothness
    from vbench.third_party.amt.utils.utils import tensor2img

    config = Path(vbench.__file__).parent / "third_party" / "amt" / "cfgs" / "AMT-S.yaml"
    motion = MotionSmoothness(str(config), man["amt"], DEVICE)

    # Formula level: vfi_score on given frames and given (float) predictions of the odd frames, which go
    # through VBench's tensor2img (x * 255, clip, astype uint8) as AMT's outputs do in motion_score.
    vfi = []
    cases = np.load(work / man["formula"]["vfi"])
    for k in range(man["formula"]["vfi_cases"]):
        frames, preds = cases[f"frames_{k}"], cases[f"preds_{k}"]  # [F, H, W, 3] uint8, [K, H, W, 3] float
        interpolated = []
        for i in range(len(preds)):
            interpolated.append(frames[2 * i])
            pred = torch.from_numpy(preds[i] / 255.0).permute(2, 0, 1)[None]  # [1, 3, H, W] in [0, 1]
            interpolated.append(tensor2img(pred))
        interpolated.append(frames[2 * len(preds)])
        vfi.append(float((255.0 - motion.vfi_score(list(frames), interpolated)) / 255.0))
    out["motion_smoothness_formula"] = {"vfi": vfi}

    videos, decode = {}, {}
    for v in man["videos"]:
        if "motion" not in v["roles"]:
            continue
        for source, path in (("mp4", v["mp4"]), ("frames", v["frames_dir"])):
            videos[f"{v['name']}/{source}"] = float(motion.motion_score(path))
        # How far VBench's cv2 reader is from the decord frames the project's runner sees.
        cv2_frames = np.stack(motion.fp.get_frames(v["mp4"])).astype(np.int16)
        decord_frames = np.load(v["decoded"])["frames"].astype(np.int16)
        diff = np.abs(cv2_frames - decord_frames) if cv2_frames.shape == decord_frames.shape else None
        decode[v["name"]] = {
            "shape_match": diff is not None,
            "max_abs": int(diff.max()) if diff is not None else None,
            "mean_abs": float(diff.mean()) if diff is not None else None,
        }
    out["motion_smoothness"] = videos
    out["decoding_cv2_vs_decord"] = decode


def main() -> None:
    work = Path(sys.argv[1])
    man = json.loads((work / MANIFEST).read_text())
    torch.set_num_threads(man.get("threads", 2))
    import cv2
    import decord
    import torchvision

    out: dict = {
        "versions": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "decord": decord.__version__,
        }
    }
    from importlib.metadata import version

    out["versions"]["vbench"] = version("vbench")
    consistency_and_quality(man, out)
    dynamic_degree(man, work, out)
    motion_smoothness(man, work, out)
    (work / VBENCH_RESULTS).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
