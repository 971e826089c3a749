"""Checks for lesson 17: the fine-tuning milestone, recomputed from the checkpoint.

The check rebuilds the classifier from the learner's model (GPTModel or LlamaModel) and make_classifier,
loads the checkpoint, re-creates the test split from the data and the seed the run
used, and counts correct answers itself. The run's metrics file is never read.
"""


import torch

from tutor.checks import check, checkpoint_encoding, checkpoint_model, fail, learner, run_checkpoint

THRESHOLD = 0.90  # test accuracy; the default fine-tuning reaches 93-94% on the real data (docs/benchmarks.md)


def _checkpoint():
    c = run_checkpoint("classify",
                       "Fine-tune one: tutor train classify (about a minute; --data sms-demo uses the practice set offline).")
    if "classify" not in c.header:
        fail("Your classify run's checkpoint is not a classifier checkpoint. Run tutor train classify again.")
    return c


def _classifier(c):
    """The learner's classifier, as their make_classifier shapes it, with the run's weights."""
    blocks = c.header["classify"]["trainable_blocks"]
    return checkpoint_model(c, lambda model: learner("classifier").make_classifier(model, 2, trainable_blocks=blocks))


@check("the classifier checkpoint loads into your model (as its pretraining recorded) with your make_classifier")
def loads():
    _classifier(_checkpoint())


@check(f"test accuracy, recomputed here on the held-out test split, is at least {THRESHOLD:.0%}")
def test_accuracy():
    from tutor.data import sms

    c = _checkpoint()
    info = c.header["classify"]
    messages = sms.load(info["data"])
    if len(messages) != info["messages"]:
        fail(f"The {info['data']} data changed since the run ({len(messages)} messages now, {info['messages']} then). "
             "Fine-tune again: tutor train classify")
    test = sms.split(messages, seed=info["seed"], balanced=info["balanced"])["test"]
    enc = checkpoint_encoding(c)
    model = _classifier(c)
    correct = 0
    with torch.no_grad():
        for label, text in test:
            ids = enc.encode_ordinary(text)[: info["max_length"]] or [info["pad_token_id"]]
            logits = model(torch.tensor([ids]))[0, len(ids) - 1]  # the last real token: no padding for one message
            correct += int(logits.argmax().item() == label)
    accuracy = correct / len(test)
    practice = " (practice data: the real SMS Spam Collection is harder)" if info["data"] == sms.DEMO else ""
    summary = f"{correct} of {len(test)} test messages right: {accuracy:.1%}{practice}"
    if accuracy < THRESHOLD:
        fail(f"{summary}; the milestone is {THRESHOLD:.0%}. Try more epochs (--epochs 8) or more trainable blocks "
             "(--trainable-blocks 2), choosing on the validation accuracy.")
    return summary
