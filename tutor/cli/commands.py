"""The command tree: every command of `tutor`, registered in one place.

The commands live in modules grouped by who uses them (learn, train, data, teach);
this module registers every one of them, so the whole command tree reads here.
"""

from __future__ import annotations

import typer

from tutor.cli import data, learn, teach, train

app = typer.Typer(
    help="Learn how a GPT works by building one, one checked component at a time.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)

# Learning: the loop of show, edit, check, hint.
app.callback(invoke_without_command=True)(learn.root)
app.command()(learn.init)
app.command("list")(learn.list_lessons)
app.command()(learn.show)
app.command()(learn.check)
app.command()(learn.see)
app.command()(learn.hint)
app.command()(learn.solution)
app.command()(learn.reset)
app.command("app")(learn.open_app)

# Training and using the learner's model, and the data it learns from.
app.add_typer(train.app, name="train")
train.app.command("pretrain")(train.pretrain)
train.app.command("classify")(train.classify)
train.app.command("instruct")(train.instruct)
app.command()(train.generate)
app.command()(train.chat)
app.add_typer(data.app, name="data")
data.app.command("list")(data.data_list)
data.app.command("download")(data.data_download)
data.app.command("import")(data.data_import)
data.app.command("sources")(data.data_sources)

# Teaching: a class's grades, a workshop's offline kit, the app in browsers.
app.command()(teach.grade)
app.command()(teach.pack)
app.command()(teach.serve)
