"""Project hooks that are not about tracking (that is :mod:`lhc_vae.tracking`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from kedro.framework.hooks import hook_impl

from lhc_vae.evaluation.plots import STYLE


class FigureStyle:
    """Every figure of a ``kedro run`` in the field's style (mplhep; issue #15 item 2). Set for the
    whole run rather than per figure: fonts are read when a figure is saved, by the catalog."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        plt.style.use(STYLE)
