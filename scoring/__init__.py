"""The scoring dimensions (docs/method.md §8), one table of their facts, and the scorer that streams videos.

    from scoring.score import score_suite, write_scores
    report = score_suite(videos, "vbench,drift", backend="toy", window="clip")

Modules:
    specs          the metric table: group, label, scale, direction, needs, builder per backend (torch-free)
    registry       build(name, backend): one metric through the table's builders; MetricUnavailable
    builders       the builder functions the table names (VBench weights, random init, toy, weight-free)
    scoring        score_suite / build_metrics / write_scores: the one scoring path of score and run
    stream         windows, the frame-chunk loop over videos, SuiteScores and its rows
    base           the streaming interface: Metric, Accumulator, VideoInfo, VideoResult
    consistency    subject / background consistency, i2v_subject / i2v_background
    aesthetic      aesthetic_quality (LAION head on CLIP ViT-L/14)
    motion         dynamic_degree, motion_smoothness, imaging_quality (pluggable models)
    fidelity       psnr, ssim against a ground-truth video
    drift          colour_shift, sharpness_loss, truth_distance (pixel statistics along the video)
    drift_protocols  Deep Forcing's delta-drift and LV-Bench's VDE, from a dimension's per-frame values
    fvd            Fréchet Video Distance against a reference set
    extractors     DINO / CLIP feature extractors from VBench's weight files
    vbench_models  RAFT and AMT-S from VBench's weight files
    musiq          MUSIQ (imaging_quality's model)
    i3d            the I3D network behind FVD
    toy            the `toy` backend: the formulas on toy-world models
    toy_encoder    the toy encoder (weights in weights/toy_encoder.safetensors)

Importing this package imports nothing; `specs` stays torch-free for `reports/`.
"""
