"""The embedded demo workspace's subjects: id -> "module:function(workspace) -> SubjectSpec".

Each function builds what it needs into the workspace cache (keyed by the builder's inputs) on
first use and returns the subject's spec. Add one line per demo subject; keep them sorted by area.
"""

from __future__ import annotations

DEMO_SUBJECTS: dict[str, str] = {
    # corpus
    "demo-corpus": "harness.demo.corpus:demo_corpus",
    "demo-corpus-unk": "harness.demo.corpus:demo_corpus_unk",
    # models: the demo LM (harness/demo/lm.py), its MLX conversions, controls and resizes
    "demo-torch": "harness.demo.lm:demo_torch",
    "demo-mlx": "harness.demo.lm:demo_mlx",
    "demo-mlx-q4": "harness.demo.lm:demo_mlx_q4",
    "demo-untied-head": "harness.demo.lm:demo_untied_head",
    "demo-resize-uninit": "harness.demo.lm:demo_resize_uninit",
    "demo-torch-resized": "harness.demo.lm:demo_torch_resized",
    "demo-mlx-q4-resized": "harness.demo.lm:demo_mlx_q4_resized",
    # scan: a 6-block base fine-tuned on N'Ko, its controls and pairs (harness/demo/finetune.py)
    "demo-scan-base": "harness.demo.finetune:demo_scan_base",
    "demo-scan-base-mlx": "harness.demo.finetune:demo_scan_base_mlx",
    "demo-scan-ft-top": "harness.demo.finetune:demo_scan_ft_top",
    "demo-scan-ft-top-mlx": "harness.demo.finetune:demo_scan_ft_top_mlx",
    "demo-scan-ft-all": "harness.demo.finetune:demo_scan_ft_all",
    "demo-scan-ft-embed-leak": "harness.demo.finetune:demo_scan_ft_embed_leak",
    "demo-scan-ft-forget": "harness.demo.finetune:demo_scan_ft_forget",
    "demo-scan-top": "harness.demo.finetune:demo_scan_top",
    "demo-scan-top-mlx": "harness.demo.finetune:demo_scan_top_mlx",
    "demo-scan-all": "harness.demo.finetune:demo_scan_all",
    "demo-scan-embed-leak": "harness.demo.finetune:demo_scan_embed_leak",
    "demo-scan-forget": "harness.demo.finetune:demo_scan_forget",
    "demo-scan-base-twice": "harness.demo.finetune:demo_scan_base_twice",
    # moe: a tiny Qwen3-MoE trained here and its export that lost norm_topk_prob (moe.py)
    "demo-moe": "harness.demo.moe:demo_moe",
    "demo-moe-config-dropped": "harness.demo.moe:demo_moe_config_dropped",
    # tokenizer: the pure-Python BPE port against ground-truth pairs (tokparity.py)
    "demo-tokenizer-port": "harness.demo.tokparity:demo_tokenizer_port",
    "demo-tokenizer-port-merge-swapped": "harness.demo.tokparity:demo_tokenizer_port_merge_swapped",
    # speed: user-style greedy samplers over the demo LM, and ones that rebuild the cache
    "demo-torch-sampler": "harness.demo.decoding:demo_torch_sampler",
    "demo-torch-sampler-cache-rebuilt": "harness.demo.decoding:demo_torch_sampler_cache_rebuilt",
    "demo-mlx-sampler-cache-rebuilt": "harness.demo.decoding:demo_mlx_sampler_cache_rebuilt",
    # export: the demo LM as ONNX, float32 and int8, and an int8 export with a bad scale
    "demo-onnx": "harness.demo.export:demo_onnx",
    "demo-onnx-int8": "harness.demo.export:demo_onnx_int8",
    "demo-onnx-int8-bad-scale": "harness.demo.export:demo_onnx_int8_bad_scale",
    # human: SIMULATED rating sheets of real demo outputs, and two controls (ratings.py)
    "demo-ratings": "harness.demo.ratings:demo_ratings",
    "demo-ratings-random": "harness.demo.ratings:demo_ratings_random",
    "demo-ratings-swapped": "harness.demo.ratings:demo_ratings_swapped",
    # reasoning: a tiny model that thinks, with and without the overthinking fix (reasoning.py)
    "demo-reasoner-unfixed": "harness.demo.reasoning:demo_reasoner_unfixed",
    "demo-reasoner-fixed": "harness.demo.reasoning:demo_reasoner_fixed",
    "demo-thinking-fixed": "harness.demo.reasoning:demo_thinking_fixed",
    "demo-thinking-forced": "harness.demo.reasoning:demo_thinking_forced",
    "demo-thinking-unfixed": "harness.demo.reasoning:demo_thinking_unfixed",
    # ... and the same models behind the real mlx_lm.server, decoded greedily
    "demo-reasoner-served-fixed": "harness.demo.reasoning:demo_reasoner_served_fixed",
    "demo-reasoner-served-unfixed": "harness.demo.reasoning:demo_reasoner_served_unfixed",
    "demo-thinking-served": "harness.demo.reasoning:demo_thinking_served",
    "demo-thinking-served-forced": "harness.demo.reasoning:demo_thinking_served_forced",
    "demo-thinking-served-unfixed": "harness.demo.reasoning:demo_thinking_served_unfixed",
    # serving: the real mlx_lm.server on loopback, on the right folder and on another (serving.py)
    "demo-served-mlx": "harness.demo.serving:demo_served_mlx",
    "demo-served-other-checkpoint": "harness.demo.serving:demo_served_other_checkpoint",
    # ... and the demo scoring server, which echoes prompt log-probabilities (perplexity)
    "demo-served-scoring": "harness.demo.serving:demo_served_scoring",
    "demo-served-scoring-other": "harness.demo.serving:demo_served_scoring_other",
    "demo-served-eng-dev": "harness.demo.serving:demo_served_eng_dev",
    "demo-served-other-eng-dev": "harness.demo.serving:demo_served_other_eng_dev",
    # lm: eval sets and (model, eval set) pairs
    "demo-eng-dev": "harness.demo.evalsets:demo_eng_dev",
    "demo-eng-4": "harness.demo.evalsets:demo_eng_4",
    "demo-eng-4x30": "harness.demo.evalsets:demo_eng_4x30",
    "demo-nko-dev": "harness.demo.evalsets:demo_nko_dev",
    "demo-eng-dev-contaminated": "harness.demo.evalsets:demo_eng_dev_contaminated",
    "demo-eng-dev-vs-train": "harness.demo.evalsets:demo_eng_dev_vs_train",
    "demo-nko-dev-vs-train": "harness.demo.evalsets:demo_nko_dev_vs_train",
    "demo-eng-dev-contaminated-vs-train":
        "harness.demo.evalsets:demo_eng_dev_contaminated_vs_train",
    "demo-torch-eng-dev": "harness.demo.evalsets:demo_torch_eng_dev",
    "demo-mlx-eng-dev": "harness.demo.evalsets:demo_mlx_eng_dev",
    "demo-torch-eng-4": "harness.demo.evalsets:demo_torch_eng_4",
    "demo-torch-eng-4x30": "harness.demo.evalsets:demo_torch_eng_4x30",
    "demo-untied-head-eng-dev": "harness.demo.evalsets:demo_untied_head_eng_dev",
    # bridge: Bambara (Latin) carried into N'Ko (harness/demo/bridge.py)
    "demo-bridge-bam-nqo": "harness.demo.bridge:demo_bridge_bam_nqo",
    "demo-bridge-roundtrip": "harness.demo.bridge:demo_bridge_roundtrip",
    "demo-bridge-roundtrip-identity": "harness.demo.bridge:demo_bridge_roundtrip_identity",
    # asr: synthetic run bundles over the real corpora (harness/demo/bundles.py)
    "demo-run-matrix": "harness.demo.bundles:demo_run_matrix",
    "demo-matrix-missing-cell": "harness.demo.bundles:demo_matrix_missing_cell",
    "demo-matrix-incomplete-cell": "harness.demo.bundles:demo_matrix_incomplete_cell",
    "demo-nqo-vs-latn-trajectory": "harness.demo.bundles:demo_nqo_vs_latn_trajectory",
    "demo-nqo-vs-latn-baseline": "harness.demo.bundles:demo_nqo_vs_latn_baseline",
    "demo-pair-latin-better": "harness.demo.bundles:demo_pair_latin_better",
    "demo-pair-other-snapshot": "harness.demo.bundles:demo_pair_other_snapshot",
    "demo-pair-tampered-edits": "harness.demo.bundles:demo_pair_tampered_edits",
    "demo-nqo-trajectory-vs-baseline": "harness.demo.bundles:demo_nqo_trajectory_vs_baseline",
    "demo-latn-trajectory-vs-baseline": "harness.demo.bundles:demo_latn_trajectory_vs_baseline",
    "demo-nqo-baseline-vs-trajectory": "harness.demo.bundles:demo_nqo_baseline_vs_trajectory",
    "demo-nqo-tar-vs-trajectory": "harness.demo.bundles:demo_nqo_tar_vs_trajectory",
    "demo-latn-tar-vs-trajectory": "harness.demo.bundles:demo_latn_tar_vs_trajectory",
    "demo-nqo-trajectory-vs-tar": "harness.demo.bundles:demo_nqo_trajectory_vs_tar",
    "demo-nqo-ttt-vs-trajectory": "harness.demo.bundles:demo_nqo_ttt_vs_trajectory",
    "demo-latn-ttt-vs-trajectory": "harness.demo.bundles:demo_latn_ttt_vs_trajectory",
    # asr seed groups (harness/groups.py): one configuration, three seeds, and the reversed control
    "demo-nqo-vs-latn-trajectory-seed1": "harness.demo.bundles:demo_nqo_vs_latn_trajectory_seed1",
    "demo-nqo-vs-latn-trajectory-seed2": "harness.demo.bundles:demo_nqo_vs_latn_trajectory_seed2",
    "demo-nqo-vs-latn-trajectory-seed2-latin-baseline-rates":
        "harness.demo.bundles:demo_nqo_vs_latn_trajectory_seed2_latin_baseline_rates",
    "demo-nqo-vs-latn-seeds": "harness.demo.bundles:demo_nqo_vs_latn_seeds",
    "demo-nqo-vs-latn-seeds-one-reversed":
        "harness.demo.bundles:demo_nqo_vs_latn_seeds_one_reversed",
    # training: short seeded CPU trainings of the demo LM, logged by real tools (training.py)
    "demo-trainer-run": "harness.demo.training:demo_trainer_run",
    "demo-trainer-tb": "harness.demo.training:demo_trainer_tb",
    "demo-trainer-nan": "harness.demo.training:demo_trainer_nan",
    "demo-lightning-run": "harness.demo.training:demo_lightning_run",
    "demo-lightning-flat": "harness.demo.training:demo_lightning_flat",
    "demo-lightning-diverge": "harness.demo.training:demo_lightning_diverge",
    "demo-mlx-run-bits": "harness.demo.training:demo_mlx_run_bits",
    "demo-mlx-aprender": "harness.demo.training:demo_mlx_aprender",
    "demo-mlx-aprender-bits": "harness.demo.training:demo_mlx_aprender_bits",
    # agp: the demo repair gate, a real process on loopback
    "demo-gate-lexicon": "harness.demo.bundles:demo_gate_lexicon",
    "demo-gate-accept-all": "harness.demo.bundles:demo_gate_accept_all",
    # ... and the gate whose repairs a served model proposes (repairer.py, mlx_lm.server)
    "demo-repairer-served": "harness.demo.repairer:demo_repairer_served",
    "demo-gate-model": "harness.demo.bundles:demo_gate_model",
    "demo-gate-model-near": "harness.demo.bundles:demo_gate_model_near",
    "demo-gate-model-all": "harness.demo.bundles:demo_gate_model_all",
    # bisect: one faulty subject per hypothesis, parity controls (harness/demo/faults.py)
    "demo-fault-transposed": "harness.demo.faults:demo_fault_transposed",
    "demo-fault-eps": "harness.demo.faults:demo_fault_eps",
    "demo-fault-zero-branch": "harness.demo.faults:demo_fault_zero_branch",
    "demo-fault-tokenizer": "harness.demo.faults:demo_fault_tokenizer",
    "demo-biased": "harness.demo.faults:demo_biased",
    "demo-fault-no-bias": "harness.demo.faults:demo_fault_no_bias",
    "demo-stitched-block": "harness.demo.faults:demo_stitched_block",
    "demo-dynamic-rope": "harness.demo.faults:demo_dynamic_rope",
    "demo-eng-200": "harness.demo.faults:demo_eng_200",
    "demo-torch-eng-200": "harness.demo.faults:demo_torch_eng_200",
    "demo-mlx-eng-200": "harness.demo.faults:demo_mlx_eng_200",
    "demo-untied-head-eng-200": "harness.demo.faults:demo_untied_head_eng_200",
    "demo-fault-transposed-eng-200": "harness.demo.faults:demo_fault_transposed_eng_200",
    "demo-fault-eps-eng-200": "harness.demo.faults:demo_fault_eps_eng_200",
    "demo-fault-zero-branch-eng-200": "harness.demo.faults:demo_fault_zero_branch_eng_200",
    "demo-fault-tokenizer-eng-200": "harness.demo.faults:demo_fault_tokenizer_eng_200",
    "demo-fault-no-bias-eng-200": "harness.demo.faults:demo_fault_no_bias_eng_200",
    "demo-stitched-block-eng-200": "harness.demo.faults:demo_stitched_block_eng_200",
    "demo-stitched-block-vs-mlx": "harness.demo.faults:demo_stitched_block_vs_mlx",
    "demo-mlx-q4-vs-torch": "harness.demo.faults:demo_mlx_q4_vs_torch",
    "demo-fault-suite": "harness.demo.faults:demo_fault_suite",
    "demo-fault-suite-stitched": "harness.demo.faults:demo_fault_suite_stitched",
    # runcards: Trainer runs of harness/demo/cardrun.py and their READMEs (harness/demo/runcards.py)
    "demo-card-run": "harness.demo.runcards:demo_card_run",
    "demo-card-run-126": "harness.demo.runcards:demo_card_run_126",
    "demo-card-wrong-best": "harness.demo.runcards:demo_card_wrong_best",
    "demo-card-doc": "harness.demo.runcards:demo_card_doc",
    "demo-card-doc-126": "harness.demo.runcards:demo_card_doc_126",
}
