"""See your collate function turn three entries into a padded, masked batch."""

from model.instruct import InstructionDataset, collate_instructions, extract_response, format_input


class Words:
    """A toy tokenizer: one id per distinct piece (words, punctuation, newlines), numbered as met."""

    def __init__(self):
        self.ids = {}

    def encode(self, text):
        import re

        return [self.ids.setdefault(piece, len(self.ids) + 1) for piece in re.findall(r"\w+|[^\w ]", text)]


PAD = 0
entries = [{"instruction": "Add 2 and 3.", "input": "", "output": "5"},
           {"instruction": "Make it plural.", "input": "cat", "output": "cats"},
           {"instruction": "Say hi.", "input": "", "output": "Hi!"}]
print(format_input(entries[1]), end="\n\n")
dataset = InstructionDataset(entries, Words())
inputs, targets = collate_instructions([dataset[i] for i in range(len(dataset))], pad_token_id=PAD)
print(f"inputs and targets: {tuple(inputs.shape)}, pad id {PAD}; only each row's end is shown\n")
for row in range(len(entries)):
    print(f"row {row}  inputs  ... {inputs[row, -10:].tolist()}")
    print(f"        targets ... {targets[row, -10:].tolist()}")
prompt = format_input(entries[0])
print("\nextract_response:", repr(extract_response(prompt + "\n\n### Response:\n5", prompt)))
