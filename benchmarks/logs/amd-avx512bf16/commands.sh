# What ran for the logs in this folder (2-core AMD EPYC with AVX512-BF16, 2026-12-05).
python benchmarks/feature_cache.py --full > feature_cache_full.txt
python benchmarks/feature_cache.py --precision-check workdirs/pretrained_affine_vgg16 > feature_cache_precision_affine.txt
# The shipped models (logs of the runs are not kept; figures in RESULTS.md):
python trainers/train.py --flagfile=trainers/configs/pretrained_affine_vgg16.flags
python trainers/train.py --flagfile=trainers/configs/pretrained_tps_vgg16.flags
python trainers/publish_pretrained.py --val_pairs=128
