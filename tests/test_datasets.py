"""Model folders are safe to share (issue #13 item 8): loading a latent prior or a Keras model
never runs code from the file, and a tampered file is refused with an error naming it."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from kedro.io import DatasetError

from lhc_vae.datasets import KerasModelDataset, LatentPriorDataset
from lhc_vae.models import priors


class _Payload:
    """Unpickling this touches a file: the observable trace of code run by a loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_latent_priors_round_trip_as_plain_arrays(tmp_path: Path):
    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(-2, 0.3, (500, 3)), rng.normal(2, 0.3, (500, 3))])
    bgmm = {
        "kind": "bgmm",
        "latent_dim": 8,
        "components": 2,
        "active_dims": [1, 4, 6],
        "likelihood_sigma": {"jets": [0.1, 0.2, 0.3]},
        "mixture": priors.mixture_arrays(priors.fit_bgmm(data, 2, seed=1)),
    }
    truth = {
        "kind": "truth",
        "latent_dim": 4,
        "inputs": {"met": rng.normal(size=(5, 2)), "jets": np.ones((5, 6, 4))},
        # the calibrated decoder's offset: per feature, knots of different lengths (JSON header)
        "likelihood_offset": {
            "jets": {"at": [[-1.0, 0.5], [0.0], [2.0, 3.0, 4.5]], "value": [[0.1, -0.2], [0.0], [1, 2, 3]]}
        },
        "likelihood_sigma": {"jets": [0.1, 0.2, 0.3]},
    }
    for name, prior in {"bgmm": bgmm, "truth": truth}.items():
        dataset = LatentPriorDataset(str(tmp_path / f"{name}.npz"))
        dataset.save(prior)
        back = dataset.load()
        assert back.keys() == prior.keys()
        for key, value in prior.items():
            if isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):
                assert back[key].keys() == value.keys()
                for k, v in value.items():
                    np.testing.assert_array_equal(back[key][k], v)
            else:
                assert back[key] == value
    # the loaded mixture samples exactly as the fitted one
    z = priors.sample_bgmm(LatentPriorDataset(str(tmp_path / "bgmm.npz")).load()["mixture"], 1000, seed=3)
    np.testing.assert_array_equal(z, priors.sample_bgmm(bgmm["mixture"], 1000, seed=3))
    assert sorted(zipfile.ZipFile(tmp_path / "bgmm.npz").namelist()) == [
        "__header__.json.npy",
        "mixture/covariances.npy",
        "mixture/means.npy",
        "mixture/weights.npy",
    ]


@pytest.mark.parametrize("how", ["pickle file", "object array inside the archive", "a bare .npy array"])
def test_a_tampered_prior_is_refused_without_running_its_code(tmp_path: Path, how: str):
    marker = tmp_path / "code_ran"
    target = tmp_path / "prior_bgmm50.npz"
    if how == "pickle file":  # the format of round 1: a pickle under the prior's name
        target.write_bytes(pickle.dumps({"kind": "bgmm", "model": _Payload(marker)}))
    elif how == "a bare .npy array":
        with open(target, "wb") as handle:
            np.save(handle, np.arange(3.0))
    else:
        header = np.asarray('{"kind": "bgmm", "latent_dim": 2}')
        payload = np.array([_Payload(marker)], dtype=object)
        with open(target, "wb") as handle:
            np.savez(handle, **{"__header__.json": header, "mixture/means": payload})
    pickle.loads(pickle.dumps(_Payload(tmp_path / "probe")))  # the payload works when unpickled...
    assert (tmp_path / "probe").exists()
    with pytest.raises(DatasetError, match=r"prior_bgmm50\.npz: not a latent prior.*pickle"):
        LatentPriorDataset(str(target)).load()
    assert not marker.exists()  # ...and the loader never unpickled it


def test_a_prior_holding_python_objects_is_not_written(tmp_path: Path):
    with pytest.raises(DatasetError, match="Python objects"):
        LatentPriorDataset(str(tmp_path / "p.npz")).save({"kind": "bgmm", "x": np.array([object()], dtype=object)})
    assert not (tmp_path / "p.npz").exists()


def test_a_keras_model_with_code_in_a_lambda_layer_is_refused(tmp_path: Path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    model.save(tmp_path / "decoder.keras")
    with pytest.raises(DatasetError, match=r"decoder\.keras: refused to load.*[Ll]ambda"):
        KerasModelDataset(str(tmp_path / "decoder.keras")).load()
