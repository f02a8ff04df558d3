"""``converter.load_model``: a weights file back as a model, with its class names."""

from __future__ import annotations

import converter
from converter.models.i3d import InceptionI3d
from converter.reference_data import label_map
from converter.writers import write_weights


def test_kinetics_names_come_from_the_reference_data_when_the_file_has_none(kinetics_dir, tmp_path):
    """A file converted where the label map was not found still names Kinetics' classes once it is
    ($KINETICS_I3D_DIR); a model of another class count gets no names."""
    for classes in (400, 7):
        state = InceptionI3d(num_classes=classes).state_dict()
        path = write_weights(
            tmp_path / f"{classes}.safetensors",
            state,
            {"architecture": "i3d", "config": f'{{"num_classes": {classes}}}'},
        ).path
        model = converter.load_model(path)
        assert model.labels == (label_map(400) if classes == 400 else None)
    assert model.labels is None and len(converter.load_model(tmp_path / "400.safetensors").labels) == 400
