# Trees measured (each a keras_geomatch package folder):
#   before:   git archive 0bdd465 keras_geomatch | tar -x -C /tmp/kg_h1/before
#   mine:     0bdd465 with this change's inference/images.py and inference/warp.py
#   proposed: mine + align.py loading with keep_uint8=True, max_megapixels passed through
#   wt:       the working tree of 2026-12-05 08:30 (AlignmentChain in progress) + proposed_chain_align_change.diff
nice python benchmarks/align_memory.py --megapixels 12,50,144 --package_root /tmp/kg_h1/before > before.txt
nice python benchmarks/align_memory.py --megapixels 12,50,144 --both --package_root /tmp/kg_h1/mine > after_inference_files_only.txt
nice python benchmarks/align_memory.py --megapixels 12,50,144 --both --package_root /tmp/kg_h1/proposed > after_with_proposed_align_change.txt
nice python benchmarks/align_memory.py --megapixels 144 --package_root /work/main > working_tree_chain_unchanged_144.txt
nice python benchmarks/align_memory.py --megapixels 144 --both --package_root /tmp/kg_h1/wt > after_with_proposed_chain_align_change_144.txt
nice python benchmarks/align_memory.py --megapixels 12,50,144 --both --package_root /work/main > align_memory_final_main.txt   # the final main of 2026-12-05
