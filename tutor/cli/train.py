"""Commands for training and using the learner's model: pretrain, fine-tune, generate, chat."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from tutor.cli.common import RunProgress, WorkspaceOpt, console, default_pretrained, die, ensure_lessons_pass, err, open_course, parse_sets
from tutor.engine.status import Status

app = typer.Typer(help="Train a GPT with your own code.", no_args_is_help=True)


def pretrain(
    preset: Annotated[str, typer.Option(help="micro, tiny (CPU, minutes), small, gpt2-124m (GPU).")] = "tiny",
    arch: Annotated[Optional[str], typer.Option(help="gpt (lessons 8-10) or llama (lessons 18-21); a resumed run keeps its own.")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="A UTF-8 text file to train on (default: Python's documentation).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on a GPU, or a CPU with bf16 matrix units), fp32 or bf16.")] = "auto",
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile your model for the training steps (faster after a compile; CPUs need a C++ compiler).")] = False,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimisation steps (overrides the preset).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override any setting: --set peak_lr=1e-3 (repeatable).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last run from its checkpoint.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default: in the user data folder, per workspace).")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="Print events as JSON lines (for the app) instead of a progress bar.")] = False,
    skip_checks: Annotated[bool, typer.Option("--skip-checks", help="Train without checking first the lessons whose code it calls.")] = False,
    nproc: Annotated[int, typer.Option(help="Processes on this machine (one per GPU, or CPU processes): DistributedDataParallel through torch.distributed.run.", min=1)] = 1,
    nnodes: Annotated[int, typer.Option(help="Machines taking part (run the same command on each, with its --node-rank).", min=1)] = 1,
    node_rank: Annotated[int, typer.Option(help="This machine's number, 0 to nnodes-1; 0 writes the checkpoints.", min=0)] = 0,
    master_addr: Annotated[str, typer.Option(help="Address of machine 0, which every machine can reach.")] = "127.0.0.1",
    master_port: Annotated[Optional[int], typer.Option(help="A free port on machine 0 (default: any free port; give one with --nnodes > 1).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Pretrain a GPT (or, with --arch llama, your Llama-style model) built from your model/ code on a
    corpus; checkpoints let you --resume."""
    from tutor.core.checkpoint import CheckpointError
    from tutor.data.corpus import CorpusError, file_corpus, load_corpus
    from tutor.learner import ARCHITECTURES, LearnerCodeError
    from tutor.training.presets import PRESETS
    from tutor.training.pretrain import Pretrainer, TrainingError

    course = open_course(workspace)
    if preset not in PRESETS:
        die(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if arch is not None and arch not in ARCHITECTURES:
        die(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    changes = parse_sets(set_)
    if "arch" in changes:
        die("choose the architecture with --arch, not --set arch=...")
    if "max_steps" in changes and max_steps is not None and changes["max_steps"] != max_steps:
        die(f"--max-steps {max_steps} and --set max_steps={changes['max_steps']} disagree; give one of them")
    if max_steps is not None:
        changes["max_steps"] = max_steps
    try:
        settings = PRESETS[preset].override(arch=arch, **changes)
        if compile_:
            settings = settings.override(compile=True)
    except (ValueError, TypeError) as exc:
        die(str(exc))
    requested = {**changes, **({"arch": arch} if arch is not None else {})}
    if not skip_checks and not resume:
        ensure_lessons_pass(course, course.registry.run_lessons("pretrain", settings.arch),
                            f"training a {settings.arch} model")
    say = err.print if json_lines else console.print
    try:
        with console.status("Preparing the corpus…") if not json_lines else nullcontext():
            chosen = file_corpus(corpus) if corpus else load_corpus("pydoc")
    except CorpusError as exc:
        die(str(exc))
    say(f"Corpus {chosen.name}: {chosen.train_chars:,} characters to train on, {chosen.val_chars:,} held out")
    on_event = RunProgress(
        json_lines, say,
        opening=lambda e: (f"{e.get('arch', 'gpt')}: {e['params'] / 1e6:.2f} M parameters on {e['device']} ({e['precision']}); "
                           f"{e['train_tokens']:,} training tokens, {e['tokens_per_step']:,} per step"),
        total=lambda e: e["max_steps"], initial=lambda e: e["step"],
        postfix=lambda e: {"loss": f"{e['loss']:.3f}", "tok_s": e["tokens_per_s"]},
        note=lambda e: (f"step {e['step']}: val loss {e['val_loss']:.3f} (perplexity {e['val_perplexity']:.1f})  {e['sample']!r}"
                        if e["event"] == "eval" else None))

    trainer = Pretrainer(course.workspace, settings, chosen, out or course.workspace.run_dir(), device=device,
                         precision=precision, resume=resume, requested=requested, on_event=on_event, log=say)
    try:
        if nproc * nnodes == 1:
            done = trainer.run()
        else:
            from tutor.training.distributed import Launch, run_parallel

            done = run_parallel(trainer, Launch(nproc, nnodes, node_rank, master_addr, master_port))
    except KeyboardInterrupt:
        err.print("\nStopped. The checkpoint is saved; continue with: tutor train pretrain --resume")
        raise typer.Exit(130) from None
    except (TrainingError, LearnerCodeError, CheckpointError, CorpusError) as exc:
        on_event.close()
        die(str(exc), code=1)
    loss = done.get("val_loss")
    loss = f"{loss:.3f}" if isinstance(loss, (int, float)) else "not measured"
    say(f"Done: val loss {loss} at step {done.get('step')}. Checkpoint: {done['checkpoint']}")
    say(f"Try it: tutor generate --prompt \"The \"{checkpoint_option(out, done['checkpoint'])}   ·   "
        f"{milestone_advice(preset, chosen.name, resume)}")


def checkpoint_option(out: Optional[Path], checkpoint: str) -> str:
    """' --checkpoint PATH' for a run written with --out (the commands that read a checkpoint
    look in the default run's folder unless told), else ''."""
    import shlex

    return f" --checkpoint {shlex.quote(str(checkpoint))}" if out is not None and checkpoint else ""


def milestone_advice(preset: str, corpus: str, resume: bool) -> str:
    """What lesson 14 will make of this run: it needs the default corpus and a preset that reaches it."""
    if corpus != "pydoc":
        return "lesson 14's milestone is measured on the default corpus: train without --corpus for it"
    if preset == "micro" and not resume:
        return ("a micro run is a smoke test and cannot reach lesson 14's milestone: "
                "tutor train pretrain --preset tiny (about 5 minutes), then tutor check 14")
    return "then: tutor check 14"


def classify(
    from_: Annotated[Optional[Path], typer.Option("--from", help="Pretrained checkpoint (default: this workspace's last pretraining run, else one imported from a workshop kit), or gpt2 (gpt2-355M, ...) for OpenAI's GPT-2 in your GPTModel.")] = None,
    data: Annotated[str, typer.Option(help="sms-spam (imported) or sms-demo (the synthetic practice set).")] = "sms-spam",
    full: Annotated[bool, typer.Option("--full", help="The full, unbalanced data instead of the book's balanced split.")] = False,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Default 4; 5 with --from gpt2 (the book's recipe).")] = None,
    trainable_blocks: Annotated[int, typer.Option(help="Blocks to fine-tune from the top; -1 trains everything.")] = 1,
    adapt: Annotated[int, typer.Option(help="Steps of continued pretraining on the training messages first.", min=0)] = 0,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate (default 1e-3; 5e-5 with --from gpt2).")] = None,
    scratch: Annotated[bool, typer.Option("--scratch", help="Start from random weights (to see what pretraining is worth).")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the new head's weights and the batch order; the split stays the same. Try a few to see how much a result owes to chance.")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default: in the user data folder, per workspace).")] = None,
    nproc: Annotated[int, typer.Option(help="CPU processes: DistributedDataParallel through torch.distributed.run, each its rows of every batch.", min=1)] = 1,
    workspace: WorkspaceOpt = None,
) -> None:
    """Fine-tune your pretrained GPT into a spam classifier (your lessons 15-16 code)."""
    from tutor.core.checkpoint import CheckpointError
    from tutor.data.gpt2 import Gpt2Error
    from tutor.data.sms import SmsDataError
    from tutor.learner import LearnerCodeError
    from tutor.training.classify import ClassifierTrainer, ClassifySettings
    from tutor.training.gpt2 import classify_start
    from tutor.training.pretrain import TrainingError

    course = open_course(workspace)
    try:
        weights, recipe = classify_start(from_, epochs=epochs, lr=lr)
    except Gpt2Error as exc:
        die(str(exc), code=1)
    settings = ClassifySettings(data=data, balanced=not full, trainable_blocks=trainable_blocks, adapt_steps=adapt,
                                train_seed=seed, **recipe)
    say = err.print if json_lines else console.print
    on_event = RunProgress(
        json_lines, say,
        opening=lambda e: (f"{e['data']}: {e['train']} training, {e['val']} validation, {e['test']} test messages; "
                           f"rows of {e['max_length']} tokens"),
        total=lambda e: e["steps"] + e["adapt_steps"], steps=("step", "adapt"),
        postfix=lambda e: {"loss": f"{e['loss']:.3f}", "stage": "adapt" if e["event"] == "adapt" else f"epoch {e.get('epoch')}"},
        note=lambda e: (f"epoch {e['epoch']}: train accuracy {e['train_accuracy']:.1%}, validation {e['val_accuracy']:.1%}"
                        if e["event"] == "epoch" else None))

    if from_ is None:
        from_ = course.workspace.run_checkpoint() if scratch else default_pretrained(course, say)
    trainer = ClassifierTrainer(course.workspace, settings, None if weights else from_,
                                out or course.workspace.run_dir("classify"), from_scratch=scratch, on_event=on_event, log=say,
                                gpt2=weights)
    try:
        if nproc == 1:
            done = trainer.run()
        else:
            from tutor.training.distributed import Launch, run_parallel

            done = run_parallel(trainer, Launch(nproc))
    except (SmsDataError, CheckpointError, LearnerCodeError, TrainingError) as exc:
        on_event.close()
        die(str(exc), code=1)
    checkpoint = done.get("checkpoint") or str(trainer.checkpoint_path)
    t = done.get("test")
    if isinstance(t, dict) and {"accuracy", "precision", "recall", "f1"} <= set(t) and "val_accuracy" in done:
        say(f"Test accuracy {t['accuracy']:.1%} (spam precision {t['precision']:.1%}, recall {t['recall']:.1%}, "
            f"F1 {t['f1']:.3f}); best validation {done['val_accuracy']:.1%}. Checkpoint: {checkpoint}")
    else:  # several processes, and no well-formed report from rank 0
        say(f"Done; the test scores were not reported. Checkpoint: {checkpoint}")
    say(f"Talk to it: tutor chat{checkpoint_option(out, checkpoint)}   ·   then: tutor check 17")


def instruct(
    from_: Annotated[Optional[str], typer.Option("--from", help="Where to start: a checkpoint file, pretrained-run (this workspace's last pretraining run, the default), or gpt2 (gpt2-355M, ...) for OpenAI's GPT-2 in your GPTModel.")] = None,
    data: Annotated[str, typer.Option(help="instruct-demo (the practice set, offline) or instructions (imported or downloaded).")] = "instruct-demo",
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Default 12; 2 with --from gpt2 (the book's recipe).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate, warm-up then cosine decay (default 2e-3; 5e-5 with --from gpt2).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Default 16; 8 with --from gpt2.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer when evaluating (0: 24 on the practice set, 96 otherwise).", min=0)] = 0,
    scratch: Annotated[bool, typer.Option("--scratch", help="Random weights with the pretrained run's tokenizer and shape (to see what pretraining is worth).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the last run from its checkpoint.")] = False,
    judge: Annotated[str, typer.Option(help="The Ollama model that scores answers on the book's data.")] = "llama3",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    json_lines: Annotated[bool, typer.Option("--json", help="Print events as JSON lines.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Run folder (default: in the user data folder, per workspace).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Fine-tune your pretrained GPT to follow instructions (your lesson 22 code), then score its test answers."""
    from tutor.core.checkpoint import CheckpointError
    from tutor.data.instructions import DATASET, DEMO, InstructionDataError
    from tutor.learner import LearnerCodeError
    from tutor.training.instruct import InstructSettings, InstructTrainer, instruct_start, task_table
    from tutor.training.pretrain import TrainingError, pick_device

    if data not in (DEMO, DATASET):
        die(f"--data must be {DEMO} or {DATASET}, not {data!r}")
    from tutor.data.gpt2 import Gpt2Error

    try:
        weights, recipe = instruct_start(from_, epochs=epochs, lr=lr, batch_size=batch_size)
    except Gpt2Error as exc:
        die(str(exc), code=1)
    course = open_course(workspace)
    say = err.print if json_lines else console.print
    if weights is not None:
        start = None
    elif from_ is None or from_ == "pretrained-run":
        start = course.workspace.run_checkpoint() if scratch else default_pretrained(course, say)
    else:
        start = Path(from_)
    settings = InstructSettings(data=data, max_new_tokens=max_new_tokens, **recipe)
    on_event = RunProgress(
        json_lines, say,
        opening=lambda e: (f"{e['data']}{' (practice data)' if e['practice'] else ''}: {e['train']} training, "
                           f"{e['val']} validation, {e['test']} test entries; {e['params'] / 1e6:.2f} M parameters"),
        total=lambda e: e["steps"], initial=lambda e: e["step"],
        postfix=lambda e: {"loss": f"{e['loss']:.3f}", "epoch": e["epoch"]},
        note=lambda e: (f"epoch {e['epoch']}: held-out loss {e['val_loss']:.3f}{'  (best so far: kept)' if e['best'] else ''}"
                        if e["event"] == "epoch" else
                        f"Answering the {e['test']} test entries…" if e["event"] == "answering" else
                        f"Scoring {e['test']} answers…" if e["event"] == "judging" else None))
    try:
        trainer = InstructTrainer(course.workspace, settings, start, out or course.workspace.run_dir("instruct"),
                                  from_scratch=scratch, resume=resume, device=pick_device(device), on_event=on_event,
                                  log=say, judge_model=judge, gpt2=weights)
        done = trainer.run()
    except KeyboardInterrupt:
        on_event.close()
        err.print("\nStopped. The checkpoint is saved; continue with: tutor train instruct --resume")
        raise typer.Exit(130) from None
    except (InstructionDataError, CheckpointError, LearnerCodeError, TrainingError) as exc:
        on_event.close()
        die(str(exc), code=1)
    on_event.close()
    say(f"Best held-out loss {done['val_loss']:.3f}. Checkpoint: {done['checkpoint']}")
    say(f"The test split's answers: {done['responses']}")
    if "exact_match" in done:
        say("Exact match on the test split (practice data), per task:")
        for line in task_table(done["exact_match"]):
            say(line)
    else:
        score = done["score"]
        say(f"Mean score {score['mean']:.1f} / 100 ({score['note']})")
    say(f"Talk to it: tutor chat --instruct{checkpoint_option(out, done['checkpoint'])}   ·   then: tutor check 23")


def chat(
    generate_mode: Annotated[bool, typer.Option("--generate", help="Complete text with the pretrained model instead.")] = False,
    instruct_mode: Annotated[bool, typer.Option("--instruct", help="Give instructions to your instruction-tuned model instead (an input after ' || ' on the same line).")] = False,
    checkpoint: Annotated[Optional[Path], typer.Option(help="A classifier checkpoint (default: this workspace's last one).")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="With --generate: gpt2 (or gpt2-355M, ...), OpenAI's GPT-2 in your GPTModel.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Type a message, get spam or ham with its probability and the tokens that decided it. Ctrl-D leaves."""
    from rich.text import Text

    from tutor.chat import SpamChat
    from tutor.core.checkpoint import CheckpointError
    from tutor.learner import LearnerCodeError
    from tutor.training.generation import load_for_generation

    try:
        import readline  # noqa: F401 - arrow keys and history for input()
    except ImportError:  # pragma: no cover - Windows
        pass
    course = open_course(workspace)
    if instruct_mode:
        instruct_chat(course, checkpoint)
        return
    try:
        with console.status("Loading your model…"):
            if weights is not None:
                generate_mode = True
                writer = gpt2_writer(course, weights)
            elif generate_mode:
                writer = load_for_generation(course.workspace, checkpoint or default_pretrained(course, err.print))
            else:
                bot = SpamChat(course.workspace, checkpoint or course.workspace.run_checkpoint("classify"))
    except (CheckpointError, LearnerCodeError) as exc:
        die(f"{exc}", code=1)
    console.print("Type a message and press Enter; Ctrl-D leaves." if not generate_mode else "Type the start of a text; Ctrl-D leaves.")
    if not generate_mode and bot.caveat:
        console.print(bot.caveat, style="yellow", markup=False)
    while True:
        try:
            text = input("> " if not generate_mode else "… ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if not text.strip():
            continue
        if generate_mode:
            console.print(Text(text, style="bold") + Text(writer.complete(text, max_new_tokens=60)))
            continue
        v = bot.classify(text)
        line = Text(f"{v.label} ", style="bold red" if v.label == "spam" else "bold green")
        line.append(f"{v.probability:.1%}", style="bold")
        line.append("   pushed by: ", style="dim")
        for token, push in v.pushes:
            line.append(repr(token), style="red" if push > 0 else "green")
            line.append(f" {push:+.2f}  ", style="dim")
        if v.note:
            line.append(f"\n  {v.note}", style="dim italic")
        console.print(line)


def instruct_chat(course, checkpoint: Optional[Path]) -> None:
    """Instruction, optional input after ' || ', and the answer printed token by token."""
    from tutor.chat import InstructChat, split_instruction
    from tutor.core.checkpoint import CheckpointError
    from tutor.learner import LearnerCodeError

    try:
        with console.status("Loading your model…"):
            bot = InstructChat(course.workspace, checkpoint or course.workspace.run_checkpoint("instruct"))
    except (CheckpointError, LearnerCodeError) as exc:
        die(f"{exc}", code=1)
    console.print("Type an instruction and press Enter (an input may follow ' || ', as in: Sort these letters. || c a b); "
                  "Ctrl-D leaves.", soft_wrap=True)
    while True:
        try:
            line = input("? ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        instruction, extra = split_instruction(line)
        if not instruction:
            continue
        try:
            for piece in bot.stream(instruction, extra):
                sys.stdout.write(piece)
                sys.stdout.flush()
        except LearnerCodeError as exc:
            die(str(exc), code=1)
        sys.stdout.write("\n")
        sys.stdout.flush()


def generate(
    prompt: Annotated[str, typer.Option(help="The text to continue.")] = "The ",
    max_new_tokens: Annotated[int, typer.Option(help="How many tokens to add.", min=1)] = 60,
    temperature: Annotated[float, typer.Option(help="0 is greedy; higher is more random.", min=0.0)] = 0.8,
    top_k: Annotated[Optional[int], typer.Option(help="Sample only from the k most likely tokens.", min=1)] = 40,
    seed: Annotated[Optional[int], typer.Option(help="Seed for sampling.")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="A pretraining checkpoint (default: this workspace's last run, else one from a workshop kit).")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="gpt2 (or gpt2-355M, ...): OpenAI's GPT-2 in your GPTModel instead (tutor data download gpt2).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Continue a prompt with your pretrained GPT (your GPTModel and your generate)."""
    from tutor.core.checkpoint import CheckpointError
    from tutor.learner import LearnerCodeError
    from tutor.training.generation import load_for_generation

    course = open_course(workspace)
    if weights is not None:
        writer = gpt2_writer(course, weights)
        try:
            text = writer.complete(prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
        except LearnerCodeError as exc:
            die(str(exc), code=1)
        console.print(prompt + text, markup=False, highlight=False)
        return
    path = checkpoint or default_pretrained(course, err.print)
    if not path.exists():
        die(f"no checkpoint at {path}; train one with `tutor train pretrain` first", code=1)
    try:
        writer = load_for_generation(course.workspace, path)
        text = writer.complete(prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, seed=seed)
    except (CheckpointError, LearnerCodeError) as exc:
        die(str(exc), code=1)
    console.print(prompt + text, markup=False, highlight=False)


def gpt2_writer(course, weights: str):
    """GPT-2 in the learner's model for --weights; their generate_cached writes once lesson 25 passes."""
    from tutor.data.gpt2 import Gpt2Error
    from tutor.learner import LearnerCodeError
    from tutor.training.gpt2 import gpt2_writer as writer
    from tutor.training.gpt2 import is_gpt2_source

    size = is_gpt2_source(weights)
    if size is None:
        die(f"--weights takes gpt2 or gpt2-SIZE (124M, 355M, 774M, 1558M), not {weights!r}")
    try:
        with console.status("Loading GPT-2 into your GPTModel…"):
            return writer(course.workspace, size, cached=course.state(course.lesson(25)) == Status.PASSED)
    except (Gpt2Error, LearnerCodeError) as exc:
        die(str(exc), code=1)
