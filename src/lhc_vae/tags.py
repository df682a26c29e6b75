"""Names of run directories, shared by the catalog (OmegaConf resolvers) and the nodes.

Kept free of heavy imports: ``settings.py`` registers these as resolvers at start-up.
"""

from __future__ import annotations

PRIORS = ("normal", "bgmm", "truth")


def run_tag(variator: str, value: float) -> str:
    """``alpha_0p2`` / ``beta_1p5``: no dots, so the tag also works as a Kedro namespace."""
    return f"{variator}_{value_tag(value)}"


#: The report's truth-against-truth row (metrics table; its subset in the ``subset`` column).
FLOOR = "truth vs truth (floor)"


def floor_label(subset: str) -> str:
    """The floor's rows of the report's per-variable table: ``floor (exp3)``, ``floor (all events)``."""
    return f"floor ({subset})"


def floor_subset(label: str) -> str | None:
    """The subset of a :func:`floor_label`, or None for any other label."""
    head, tail = floor_label("\0").split("\0")
    if len(label) < len(head) + len(tail) or not (label.startswith(head) and label.endswith(tail)):
        return None
    return label[len(head) : len(label) - len(tail)]


def run_label(training: dict, stats: dict) -> str:
    """A generation run's name in the report and the tracker: ``exp3/beta_1p5/normal`` (experiment,
    variator and value of its training record, latent prior of its generation record)."""
    variator = training["variator"]
    return f"{training['experiment']}/{run_tag(variator, training[variator])}/{stats.get('latent_prior')}"


def resolve_prior(latent_prior: str, variator: str) -> str:
    """``auto`` means ``truth`` for alpha-VAEs and ``normal`` for beta-VAEs (as in the thesis)."""
    if latent_prior == "auto":
        return "truth" if variator == "alpha" else "normal"
    if latent_prior not in PRIORS:
        raise ValueError(f"latent_prior must be one of auto, {', '.join(PRIORS)}; got {latent_prior!r}")
    return latent_prior


def value_tag(value: float) -> str:
    """1.5 -> ``1p5``."""
    return format(float(value), "g").replace(".", "p")


def prior_tag(latent_prior: str, bgmm_components: int) -> str:
    """``prior_auto``, ``prior_normal``, ``prior_truth`` or ``prior_bgmm50``: a run's generation directory."""
    if latent_prior != "auto":
        resolve_prior(latent_prior, "beta")
    return f"prior_bgmm{int(bgmm_components)}" if latent_prior == "bgmm" else f"prior_{latent_prior}"


def experiment_of(namespace: str) -> str:
    """``exp3_sweep.beta_1p5`` or ``exp3_sweep.beta_1p5.bgmm`` -> ``exp3`` (experiment names have no underscore)."""
    return namespace.split(".")[0].split("_")[0]


#: Runs generated with another run's trained models, nested in that run's namespace
#: (``exp3_sweep.beta_0p5.bgmm``): the BGMM latent prior and the classifier-refined run.
DERIVED_RUNS = ("bgmm", "refined")


def derived_namespace(trained: str, kind: str) -> str:
    """``exp3_sweep.beta_0p5``, ``bgmm`` -> ``exp3_sweep.beta_0p5.bgmm``: a run that generates with
    the models of ``trained``, nested in its namespace (one top-level namespace per experiment's runs)."""
    if kind not in DERIVED_RUNS:
        raise ValueError(f"a derived run is one of {', '.join(DERIVED_RUNS)}; got {kind!r}")
    return f"{trained}.{kind}"


def trained_namespace(namespace: str) -> str:
    """The namespace of the models a run generates with: a BGMM or refined run
    ``E_sweep.<tag>.bgmm`` / ``.refined`` uses those of ``E_sweep.<tag>``; every other run its own."""
    head, _, last = namespace.rpartition(".")
    return head if head and last in DERIVED_RUNS else namespace


def sample_dataset(namespace: str) -> str:
    """The report's view of a run (an in-memory dataset read by the report's nodes of every run):
    ``exp3_sweep.beta_0p5`` -> ``report_sample__exp3_sweep__beta_0p5``. Without dots, since the
    report is no run's namespace (Kedro keeps dotted names for a node's own namespace)."""
    return "report_sample__" + namespace.replace(".", "__")


#: The raw file of each data source: its dataset class and file suffix (``data/01_raw/<source>/<process>.<suffix>``).
RAW_FILES = {
    "pythia": ("lhc_vae.datasets.DarkMachinesDataset", "csv"),
    "darkmachines": ("lhc_vae.datasets.DarkMachinesDataset", "csv"),
    "delphes": ("lhc_vae.datasets.DelphesDataset", "root"),
}


def _raw_file(source: str) -> tuple[str, str]:
    try:
        return RAW_FILES[source]
    except KeyError:
        raise ValueError(f"source must be one of {', '.join(RAW_FILES)}; got {source!r}") from None


def raw_dataset(source: str) -> str:
    """The dataset class of a source's raw file (Dark Machines text or Delphes ROOT)."""
    return _raw_file(source)[0]


def raw_suffix(source: str) -> str:
    """The file suffix of a source's raw file."""
    return _raw_file(source)[1]
