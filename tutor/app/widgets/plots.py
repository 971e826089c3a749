"""The train screen's loss plot: real axes, scales and values (plotext, drawn in the terminal)."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class LossPlot(PlotextPlot):
    """Training loss per step as a line, held-out loss at each evaluation as points."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.train: list[tuple[int, float]] = []
        self.held_out: list[tuple[int, float]] = []

    def on_mount(self) -> None:
        self._draw()

    def reset(self) -> None:
        self.train, self.held_out = [], []
        self._draw()

    def add_step(self, step: int, loss: float) -> None:
        self.train.append((step, loss))
        self._draw()  # cheap: it sets the data; the widget renders at the screen's pace

    def add_eval(self, step: int, loss: float) -> None:
        self.held_out.append((step, loss))
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss (nats per token)")
        plt.xlabel("step")
        if self.train:
            steps, losses = zip(*self.train[-2000:])
            plt.plot(steps, losses, label="training", marker="braille")
        if self.held_out:
            steps, losses = zip(*self.held_out)
            plt.scatter(steps, losses, label="held out", marker="●")
        if not self.train and not self.held_out:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        self.refresh()
