"""Video inputs for I3D, the recipe of the published models, in small public pieces:

- ``decode.iter_frames(path, fps=25.0)``: uint8 (H, W, 3) RGB frames of a video, GIF or frames folder,
  streamed and resampled to ``fps``;
- ``transforms.rgb_clip(frames)``: float32 (T, 224, 224, 3) in [-1, 1] (short side 256, centre crop 224);
- ``flow.flow_clip(frames, method="tvl1")``: float32 (T, 224, 224, 2) TV-L1 flow / 20 in [-1, 1];
- ``tvl1.tvl1(frames0, frames1)``: OpenCV's TV-L1 in PyTorch on batches of pairs, CPU or CUDA
  (``method="tvl1-torch"``);
- ``transforms.loop_pad(frames, MIN_FRAMES)``: replay clips too short for I3D's logits (T < 9);
- ``preprocess.preprocess(data_dir)``: a whole dataset to ``rgb.npy``/``flow.npy`` files
  (``python -m converter preprocess``);
- ``classify``, ``features``, ``visualize``: the commands of the same names (``clips``: one decode
  feeding both streams in bounded windows; ``streams``: which weights file plays which stream);
- ``timing``: which decoded frames a rate gives, from presentation times (exact whatever the container);
- datasets (``docs/datasets.md``): ``dataset`` (files, folders, @lists, shares), ``inputs`` (decoding
  workers), ``windows``, ``crops``, ``presets``, ``claims`` and ``manifest`` (several jobs, one folder),
  ``feature_run``/``feature_outputs`` (the model side and what is written), ``preprocess_videos``.

Nothing is imported here, so importing one piece does not load OpenCV or PyAV for the others.
"""
