"""Answers real students write, graded by OUR grader: correct ones get full marks, wrong ones lose exactly
the test they get wrong, and where the catalogue says so, the visible test already warns about it.

Each variant is the instructor's solution with one or a few answer cells replaced, handed in as its own
student; every assignment's variants are graded in one `grade_batch` run (sandboxed, judged outside the
student's process). For a wrong variant, every test cell it does not list keeps its points: one mistake
never costs a later step that builds on it. `Seen.VISIBLE` means the released (visible) part of the test
catches it, so a student can fix it before handing in; `Seen.HIDDEN` means only the hidden block does
(other inputs or a derivation from the student's own work): the grader's feedback then says "in a
hidden test" instead of quoting it.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

import pytest
from _assignment_helpers import ASSIGNMENTS, copy_course, is_test_cell, nbgrader_cells
from conftest import submit

from autograder.grade import grade_batch
from autograder.release import release
from coursebase.answers import reference_answers, student_notebook
from coursebase.layout import Course

pytestmark = pytest.mark.slow


class Seen(enum.Enum):
    VISIBLE = "visible"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Variant:
    name: str
    answers: dict[str, str]                                  # answer cell grade_id -> the student's code
    loses: dict[str, Seen] = field(default_factory=dict)     # empty: a correct answer, full marks


def right(name: str, **answers: str) -> Variant:
    return Variant(name, answers)


def wrong(name: str, loses: dict[str, Seen], **answers: str) -> Variant:
    assert loses
    return Variant(name, answers, loses)


V, H = Seen.VISIBLE, Seen.HIDDEN

# --------------------------------------------------------------------------- 01_tensors
TENSORS = [
    right("explicit dtypes",
          q1_from_list="a = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.int64)\n"
                       "b = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float32)"),
    right("tuples of sizes and .long()",
          q2_constant_tensors="zeros = torch.zeros((3, 4))\nones = torch.ones((2, 5)).long()\nidentity = torch.eye(4, 4)"),
    right("arange end past 20", q3_arange="evens = torch.arange(0, 22, 2)\ncountdown = torch.arange(10, 0, -1)"),
    right("size(), torch.numel, .float()",
          q5_shape_dtype="x_shape = tuple(x.size())\nx_numel = torch.numel(x)\nx_float = x.float()"),
    right("flatten and unsqueeze",
          q6_reshape="x_2d = x.view(6, 4)\nx_flat = x.view(24)\nx_col = x.view(-1, 1)\n"
                     "def to_column(t):\n    return t.flatten().unsqueeze(1)"),
    right("reshape by numel",
          q6_reshape="x_2d = x.reshape(-1, 4)\nx_flat = x.view(-1)\nx_col = x.reshape(24, 1)\n"
                     "def to_column(t):\n    return t.reshape(t.numel(), 1)"),
    right("contiguous then view",
          q6_reshape="x_2d = x.reshape(6, 4)\nx_flat = x.view(-1)\nx_col = x.reshape(-1, 1)\n"
                     "def to_column(t):\n    return t.contiguous().view(-1, 1)"),
    right("copy under another name",
          q7_indexing="last_col = g[:, 4]\ncenter = g[1:-1, 1:-1]\nboard = torch.zeros(5, 5)\nboard[2] = 1.0\n"
                      "def set_row(t, i, value):\n    result = t.clone()\n    result[i] = value\n    return result"),
    right("detach and clone", q7_indexing="last_col = g[:, -1]\ncenter = g[1:4, 1:4]\n"
                                          "board = torch.zeros(5, 5, dtype=torch.float32)\n"
                                          "board[2, :] = 1\n"
                                          "def set_row(t, i, value):\n    t = t.detach().clone()\n"
                                          "    t[i, :] = value\n    return t"),
    right("torch.mul and torch.matmul",
          q8_multiplication="elementwise = torch.mul(A, B)\nmatmul = torch.matmul(A, B)"),
    right("vstack, hstack, stack(dim=0)",
          q9_cat_stack="cat_rows = torch.vstack([p, q])\ncat_cols = torch.hstack([p, q])\nstacked = torch.stack([p, q], dim=0)"),
    right("as_tensor shares memory too", q10_numpy="from_np = torch.as_tensor(arr)\ndoubled_np = from_np.numpy() * 2"),
    right("float values, w_grad as a number",
          q11_autograd="w = torch.tensor(3.0, requires_grad=True)\ny = w ** 2 + 2 * w\ny.backward()\nw_grad = w.grad.item()\n"
                       "def grad_at(f, values):\n    x = torch.tensor([float(v) for v in values], requires_grad=True)\n"
                       "    value = f(x)\n    value.backward()\n    return x.grad"),
    wrong("torch.Tensor makes floats", {"test_q1_from_list": V},
          q1_from_list="a = torch.Tensor([[1, 2, 3], [4, 5, 6]])\nb = torch.tensor([0.5, 1.5, 2.5])"),
    wrong("ones left float32", {"test_q2_constant_tensors": V},
          q2_constant_tensors="zeros = torch.zeros(3, 4)\nones = torch.ones(2, 5)\nidentity = torch.eye(4)"),
    wrong("arange end excluded", {"test_q3_arange": V},
          q3_arange="evens = torch.arange(0, 20, 2)\ncountdown = torch.arange(10, 0, -1)"),
    wrong("seed set again before n", {"test_q4_random": V},
          q4_random="torch.manual_seed(42)\nr = torch.rand(3, 3)\ntorch.manual_seed(42)\nn = torch.randn(2, 4)"),
    wrong("no seed", {"test_q4_random": V}, q4_random="r = torch.rand(3, 3)\nn = torch.randn(2, 4)"),
    wrong("len instead of numel", {"test_q5_shape_dtype": V},
          q5_shape_dtype="x_shape = tuple(x.shape)\nx_numel = len(x)\nx_float = x.to(torch.float32)"),
    wrong("to_column with view fails on a transposed tensor", {"test_q6_reshape": H},
          q6_reshape="x_2d = x.reshape(6, 4)\nx_flat = x.view(-1)\nx_col = x.reshape(-1, 1)\n"
                     "def to_column(t):\n    return t.view(-1, 1)"),
    wrong("a row instead of a column", {"test_q6_reshape": V},
          q6_reshape="x_2d = x.reshape(6, 4)\nx_flat = x.view(-1)\nx_col = x.reshape(1, -1)\n"
                     "def to_column(t):\n    return t.reshape(-1, 1)"),
    wrong("set_row changes its input", {"test_q7_indexing": H},
          q7_indexing="last_col = g[:, -1]\ncenter = g[1:4, 1:4]\nboard = torch.zeros(5, 5)\nboard[2, :] = 1\n"
                      "def set_row(t, i, value):\n    t[i, :] = value\n    return t"),
    wrong("a column of ones instead of a row", {"test_q7_indexing": V},
          q7_indexing="last_col = g[:, -1]\ncenter = g[1:4, 1:4]\nboard = torch.zeros(5, 5)\nboard[:, 2] = 1\n"
                      "def set_row(t, i, value):\n    t = t.clone()\n    t[i, :] = value\n    return t"),
    wrong("last row instead of last column", {"test_q7_indexing": V},
          q7_indexing="last_col = g[-1]\ncenter = g[1:4, 1:4]\nboard = torch.zeros(5, 5)\nboard[2, :] = 1\n"
                      "def set_row(t, i, value):\n    t = t.clone()\n    t[i, :] = value\n    return t"),
    wrong("products swapped", {"test_q8_multiplication": V}, q8_multiplication="elementwise = A @ B\nmatmul = A * B"),
    wrong("matmul in the other order", {"test_q8_multiplication": V}, q8_multiplication="elementwise = A * B\nmatmul = B @ A"),
    wrong("cat instead of stack", {"test_q9_cat_stack": V},
          q9_cat_stack="cat_rows = torch.cat([p, q])\ncat_cols = torch.cat([p, q], dim=1)\nstacked = torch.cat([p, q])"),
    wrong("torch.tensor copies: no shared memory", {"test_q10_numpy": V},
          q10_numpy="from_np = torch.tensor(arr)\ndoubled_np = (from_np * 2).numpy()"),
    wrong("float32 instead of float64", {"test_q10_numpy": V},
          q10_numpy="from_np = torch.from_numpy(arr).float()\ndoubled_np = (from_np * 2).numpy()"),
    wrong("closed-form gradient of the sum", {"test_q11_autograd": H},
          q11_autograd="w = torch.tensor(3.0, requires_grad=True)\ny = w ** 2 + 2 * w\ny.backward()\nw_grad = w.grad\n"
                       "def grad_at(f, values):\n    return torch.ones(len(values))"),
    wrong("closed-form 3 * x ** 2", {"test_q11_autograd": V},
          q11_autograd="w = torch.tensor(3.0, requires_grad=True)\ny = w ** 2 + 2 * w\ny.backward()\nw_grad = w.grad\n"
                       "def grad_at(f, values):\n    return 3 * torch.tensor(values) ** 2"),
    wrong("backward twice", {"test_q11_autograd": V},
          q11_autograd="w = torch.tensor(3.0, requires_grad=True)\ny = w ** 2 + 2 * w\ny.backward(retain_graph=True)\n"
                       "y.backward()\nw_grad = w.grad\n"
                       "def grad_at(f, values):\n    x = torch.tensor(values, requires_grad=True)\n    f(x).backward()\n"
                       "    return x.grad"),
]

# --------------------------------------------------------------------------- 02_dot_product
DOT = [
    right("torch.mul and torch.sub", step1_elementwise="prod = torch.mul(A, B)\ndiff = torch.sub(A, B)"),
    right("vstack", step2_concatenate="combined = torch.vstack([prod, diff])"),
    right("cat of a tuple, default dim", step2_concatenate="combined = torch.cat((prod, diff))"),
    right(".item()", step3_dot_product="result = torch.dot(combined[0], combined[-1]).item()"),
    right("float(...)", step3_dot_product="result = float(combined[0] @ combined[-1])"),
    right("sum of the products", step3_dot_product="result = (combined[0] * combined[len(combined) - 1]).sum()"),
    right("function returns a float",
          step4_function="def first_last_dot(x, y):\n    c = torch.cat((x * y, x - y))\n    return float((c[0] * c[-1]).sum())"),
    right("function returns .item()",
          step4_function="def first_last_dot(x, y):\n    c = torch.vstack([torch.mul(x, y), x - y])\n"
                         "    return torch.dot(c[0], c[-1]).item()"),
    wrong("A @ B in step 1 costs step 1 only", {"test_step1_elementwise": V}, step1_elementwise="prod = A @ B\ndiff = A - B"),
    wrong("B - A", {"test_step1_elementwise": V}, step1_elementwise="prod = A * B\ndiff = B - A"),
    wrong("dim=1 costs step 2 only", {"test_step2_concatenate": V},
          step2_concatenate="combined = torch.cat([prod, diff], dim=1)"),
    # stack makes a 3-D combined: its "rows" are matrices, so step 3 cannot run either
    wrong("stack", {"test_step2_concatenate": V, "test_step3_dot_product": V},
          step2_concatenate="combined = torch.stack([prod, diff])"),
    wrong("diff on top", {"test_step2_concatenate": H}, step2_concatenate="combined = torch.cat([diff, prod])"),
    wrong("sum of both rows", {"test_step3_dot_product": H},
          step3_dot_product="result = combined[0].sum() + combined[-1].sum()"),
    wrong("first and second rows", {"test_step3_dot_product": H},
          step3_dot_product="result = torch.dot(combined[0], combined[1])"),
    wrong("element-wise product, no sum", {"test_step3_dot_product": V},
          step3_dot_product="result = combined[0] * combined[-1]"),
    wrong("hard-coded 50 after a wrong step 2", {"test_step2_concatenate": V, "test_step3_dot_product": H},
          step2_concatenate="combined = torch.cat([prod, diff], dim=1)", step3_dot_product="result = 50.0"),
    wrong("function concatenates along columns", {"test_step4_function": V},
          step4_function="def first_last_dot(x, y):\n    c = torch.cat([x * y, x - y], dim=1)\n"
                         "    return torch.dot(c[0], c[-1])"),
    wrong("function returns 50", {"test_step4_function": H},
          step4_function="def first_last_dot(x, y):\n    return torch.tensor(50.0)"),
]
# --------------------------------------------------------------------------- 03_parameter_count
OUT_FIRST = ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.out = nn.Linear(128, 10)\n        self.hidden2 = nn.Linear(128, 128)\n"
             "        self.hidden1 = nn.Linear(784, 128)\n"
             "    def forward(self, x):\n        return self.out(torch.relu(self.hidden2(torch.relu(self.hidden1(x)))))\n")
SEQ = "nn.Sequential(nn.Linear(784, 128), {a}, nn.Linear(128, 128), {a}, nn.Linear(128, 10){tail})"
COUNTED = "\nn_params = count_parameters(model_128)\nprint(n_params)"   # the given end of the answer cell
PARAMS = [
    right("a loop with an if", q1_count_parameters="def count_parameters(model):\n    total = 0\n"
                                                    "    for p in model.parameters():\n        if p.requires_grad:\n"
                                                    "            total += p.numel()\n    return total"),
    right("final Softmax (as a lesson text builds it)",
          q2_mlp_128="model_128 = " + SEQ.format(a="nn.ReLU()", tail=", nn.Softmax(dim=1)") + COUNTED),
    right("output layer registered first", q2_mlp_128=OUT_FIRST + "model_128 = Net()" + COUNTED),
    right("ReLU(inplace=True)", q2_mlp_128="model_128 = " + SEQ.format(a="nn.ReLU(inplace=True)", tail="") + COUNTED),
    right("a bare Linear", q3_linear="model_linear = nn.Linear(784, 10)\nn_params_linear = count_parameters(model_linear)"),
    right("make_mlp with zip", q4_make_mlp="def make_mlp(in_features, hidden_sizes, out_features):\n"
                                         "    sizes = [in_features, *hidden_sizes, out_features]\n    layers = []\n"
                                         "    for n_in, n_out in zip(sizes, sizes[1:]):\n"
                                         "        layers += [nn.Linear(n_in, n_out), nn.ReLU()]\n"
                                         "    return nn.Sequential(*layers[:-1])\n"
                                         "model_deep = make_mlp(784, [512, 256, 128, 32], 10)\n"
                                         "n_params_deep = count_parameters(model_deep)"),
    right("by hand, factored", q5a_by_hand="n_params_by_hand = (784 + 1) * 64 + (64 + 1) * 10"),
    right("formula as a loop", q5b_formula="def mlp_param_formula(sizes):\n    total = 0\n"
                                          "    for i in range(1, len(sizes)):\n        total += (sizes[i - 1] + 1) * sizes[i]\n"
                                          "    return total"),
    wrong("frozen parameters counted", {"test_q1_count_parameters": H},
          q1_count_parameters="def count_parameters(model):\n    return sum(p.numel() for p in model.parameters())"),
    wrong("a tensor instead of an int", {"test_q1_count_parameters": V},
          q1_count_parameters="def count_parameters(model):\n"
                              "    return torch.tensor(sum(p.numel() for p in model.parameters() if p.requires_grad))"),
    wrong("Sigmoid where the task says ReLU", {"test_q2_mlp_128": V},
          q2_mlp_128="model_128 = " + SEQ.format(a="nn.Sigmoid()", tail="") + COUNTED),
    wrong("no non-linearity", {"test_q2_mlp_128": V},
          q2_mlp_128="model_128 = nn.Sequential(nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10))" + COUNTED),
    wrong("ReLU after the last layer", {"test_q2_mlp_128": V},
          q2_mlp_128="model_128 = " + SEQ.format(a="nn.ReLU()", tail=", nn.ReLU()") + COUNTED),
    wrong("hidden layers of 256", {"test_q2_mlp_128": V},
          q2_mlp_128="model_128 = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), "
                     "nn.Linear(256, 10))" + COUNTED),
    wrong("no bias", {"test_q3_linear": V},
          q3_linear="model_linear = nn.Linear(784, 10, bias=False)\nn_params_linear = count_parameters(model_linear)"),
    wrong("ReLU after every layer", {"test_q4_make_mlp": V},
          q4_make_mlp="def make_mlp(in_features, hidden_sizes, out_features):\n    layers, previous = [], in_features\n"
                      "    for size in list(hidden_sizes) + [out_features]:\n"
                      "        layers += [nn.Linear(previous, size), nn.ReLU()]\n        previous = size\n"
                      "    return nn.Sequential(*layers)\n"
                      "model_deep = make_mlp(784, [512, 256, 128, 32], 10)\nn_params_deep = count_parameters(model_deep)"),
    wrong("model_deep with a layer missing", {"test_q4_make_mlp": H},
          q4_make_mlp="def make_mlp(in_features, hidden_sizes, out_features):\n    layers, previous = [], in_features\n"
                      "    for size in hidden_sizes:\n        layers += [nn.Linear(previous, size), nn.ReLU()]\n"
                      "        previous = size\n    return nn.Sequential(*layers, nn.Linear(previous, out_features))\n"
                      "model_deep = make_mlp(784, [512, 256, 128], 10)\nn_params_deep = count_parameters(model_deep)"),
    wrong("biases forgotten", {"test_q5a_by_hand": H}, q5a_by_hand="n_params_by_hand = 784 * 64 + 64 * 10"),
    wrong("only the first layer", {"test_q5b_formula": H},
          q5b_formula="def mlp_param_formula(sizes):\n    return sizes[0] * sizes[1] + sizes[1]"),
]

# --------------------------------------------------------------------------- 04_mlp_fashion_mnist
MLP_HEAD = ("class MLP(nn.Module):\n"
            "    def __init__(self, in_features=784, hidden_sizes=(256, 128), out_features=10):\n"
            "        super().__init__()\n")
EPOCH = ("def train_one_epoch(model, loader, optimizer, loss_fn):\n    model.train()\n    total, count = 0.0, 0\n"
         "    for xb, yb in loader:\n{body}"
         "        total += loss.item() * len(yb)\n        count += len(yb)\n    return total / count")
MLP = [
    right("output layer registered before the hidden ones",
          mlp_model=MLP_HEAD + "        sizes = [in_features] + list(hidden_sizes)\n"
                               "        self.out = nn.Linear(sizes[-1], out_features)\n"
                               "        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))\n"
                               "    def forward(self, x):\n        x = x.flatten(1)\n        for layer in self.hidden:\n"
                               "            x = torch.relu(layer(x))\n        return self.out(x)"),
    right("evaluate with len(loader.dataset) (the tutorials' idiom)",
          evaluate="def evaluate(model, loader, loss_fn):\n    model.eval()\n    n = len(loader.dataset)\n"
                   "    total_loss, correct = 0.0, 0\n    with torch.no_grad():\n        for xb, yb in loader:\n"
                   "            logits = model(xb)\n            total_loss += loss_fn(logits, yb).item() * len(yb)\n"
                   "            correct += (logits.argmax(1) == yb).sum().item()\n    return total_loss / n, correct / n"),
    right("zero_grad first, model.zero_grad",
          train_one_epoch=EPOCH.format(body="        model.zero_grad()\n        loss = loss_fn(model(xb), yb)\n"
                                            "        loss.backward()\n        optimizer.step()\n")),
    right("accuracy by counting", accuracy="def accuracy(logits, labels):\n"
                                           "    return (logits.argmax(1) == labels).sum().item() / len(labels)"),
    right("predict in one go", predict="def predict(model, X, batch_size=1024):\n    with torch.no_grad():\n"
                                       "        return torch.argmax(model(X), dim=1)"),
    right("write_submission returns the path",
          write_submission="def write_submission(ids, predictions, path):\n"
                           "    frame = pd.DataFrame({'Id': np.asarray(ids), 'Category': np.asarray(predictions)})\n"
                           "    frame.astype('int64').to_csv(path, index=False)\n    return path"),
    right("write_submission with the csv module",
          write_submission="import csv\ndef write_submission(ids, predictions, path):\n"
                           "    with open(path, 'w', newline='') as fh:\n        out = csv.writer(fh)\n"
                           "        out.writerow(['Id', 'Category'])\n"
                           "        for i, p in zip(ids, predictions):\n            out.writerow([int(i), int(p)])"),
    # the experiments (question 8) train the student's own MLP and use their accuracy: these break them too
    wrong("layers in a plain list are not registered", {"test_mlp_architecture": V, "test_experiments": V},
          mlp_model=MLP_HEAD + "        sizes = [in_features] + list(hidden_sizes) + [out_features]\n"
                               "        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]\n"
                               "    def forward(self, x):\n        x = x.flatten(1)\n"
                               "        for layer in self.layers[:-1]:\n            x = torch.relu(layer(x))\n"
                               "        return self.layers[-1](x)"),
    # softmax before cross-entropy barely trains: in the experiments' 15 epochs most initialisations
    # stay below 90% (a correct MLP reaches 100% from every one, tests/test_mlp_experiments_fair.py)
    wrong("softmax at the end", {"test_mlp_logits": H, "test_experiments": H},
          mlp_model=MLP_HEAD + "        layers, previous = [], in_features\n        for size in hidden_sizes:\n"
                               "            layers += [nn.Linear(previous, size), nn.ReLU()]\n            previous = size\n"
                               "        self.layers = nn.Sequential(*layers, nn.Linear(previous, out_features), "
                               "nn.Softmax(dim=1))\n"
                               "    def forward(self, x):\n        return self.layers(x.flatten(1))"),
    wrong("no ReLU", {"test_mlp_architecture": V, "test_mlp_logits": H},
          mlp_model=MLP_HEAD + "        sizes = [in_features] + list(hidden_sizes) + [out_features]\n"
                               "        self.layers = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])\n"
                               "    def forward(self, x):\n        return self.layers(x.flatten(1))"),
    wrong("loader never shuffles", {"test_make_loader": H},
          make_loader="def make_loader(X, y, batch_size, shuffle=False):\n"
                      "    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=False)"),
    wrong("mean per batch instead of per object", {"test_training": H},
          train_one_epoch="def train_one_epoch(model, loader, optimizer, loss_fn):\n    model.train()\n    losses = []\n"
                          "    for xb, yb in loader:\n        optimizer.zero_grad()\n        loss = loss_fn(model(xb), yb)\n"
                          "        loss.backward()\n        optimizer.step()\n        losses.append(loss.item())\n"
                          "    return sum(losses) / len(losses)"),
    wrong("no zero_grad", {"test_training": H},
          train_one_epoch=EPOCH.format(body="        loss = loss_fn(model(xb), yb)\n        loss.backward()\n"
                                            "        optimizer.step()\n")),
    wrong("Adam instead of SGD", {"test_training": H},
          train_model="def train_model(model, X, y, epochs, lr, batch_size, shuffle=True):\n"
                      "    loader = make_loader(X, y, batch_size, shuffle=shuffle)\n"
                      "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n    loss_fn = nn.CrossEntropyLoss()\n"
                      "    return [train_one_epoch(model, loader, optimizer, loss_fn) for _ in range(epochs)]"),
    wrong("arg-max over the batch axis", {"test_accuracy": H, "test_experiments": V},
          accuracy="def accuracy(logits, labels):\n    return float((logits.argmax(dim=0) == labels).float().mean())"),
    wrong("evaluate averages per batch", {"test_evaluate": H},
          evaluate="def evaluate(model, loader, loss_fn):\n    model.eval()\n    losses, accuracies = [], []\n"
                   "    with torch.no_grad():\n        for xb, yb in loader:\n            logits = model(xb)\n"
                   "            losses.append(loss_fn(logits, yb).item())\n"
                   "            accuracies.append((logits.argmax(1) == yb).float().mean().item())\n"
                   "    return sum(losses) / len(losses), sum(accuracies) / len(accuracies)"),
    wrong("evaluate returns tensors", {"test_evaluate": V},
          evaluate="def evaluate(model, loader, loss_fn):\n    model.eval()\n    xs, ys = zip(*loader)\n"
                   "    logits = model(torch.cat(xs))\n    y = torch.cat(ys)\n"
                   "    return loss_fn(logits, y), (logits.argmax(1) == y).float().mean()"),
    wrong("the largest logit instead of its index", {"test_predict": H},
          predict="def predict(model, X, batch_size=1024):\n    with torch.no_grad():\n"
                  "        return model(X).max(dim=1).values.to(torch.int64)"),
    wrong("row numbers written as a column", {"test_write_submission": V},
          write_submission="def write_submission(ids, predictions, path):\n"
                           "    pd.DataFrame({'Id': np.asarray(ids), 'Category': np.asarray(predictions)}).to_csv(path)"),
    wrong("tensors written as they are", {"test_write_submission": V},
          write_submission="def write_submission(ids, predictions, path):\n"
                           "    pd.DataFrame({'Id': list(ids), 'Category': list(predictions)}).to_csv(path, index=False)"),
]

# --------------------------------------------------------------------------- 05_concept_check
XOR_WEIGHTS = ("xor_net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))\n"
               "with torch.no_grad():\n    xor_net[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))\n"
               "    xor_net[0].bias.copy_(torch.tensor([0.0, -1.0]))\n"
               "    xor_net[2].weight.copy_(torch.tensor([[1.0, -2.0]]))\n    xor_net[2].bias.zero_()\n")
CONCEPTS = [
    right("weights copied in, k from a variable", q1_xor="xor_hidden_min = 2\n" + XOR_WEIGHTS),
    right("terms as a product", q2_terms="import math\nn_terms_3_2 = 6\n"
                                         "def count_terms(hidden_sizes):\n    return math.prod(hidden_sizes)"),
    right("collapse with matmul", q3_collapse="def collapse(W1, b1, W2, b2):\n"
                                              "    return torch.matmul(W2, W1), torch.matmul(W2, b1) + b2"),
    right("losses with torch.nn.functional",
          q4_losses="import torch.nn.functional as F\n"
                    "def mse(y_true, y_pred):\n    return F.mse_loss(y_pred, y_true).item()\n"
                    "def mae(y_true, y_pred):\n    return F.l1_loss(y_pred, y_true).item()\noutlier_loss = 'MSE'"),
    right("answers as plain literals", q5_multiclass="n_outputs = 10\nmulticlass_loss = 'CrossEntropyLoss'"),
    wrong("one hidden neuron claimed", {"test_q1_xor": H}, q1_xor="xor_hidden_min = 1\n" + XOR_WEIGHTS),
    wrong("weights that do not compute XOR", {"test_q1_xor": V},
          q1_xor="xor_hidden_min = 2\nxor_net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))"),
    wrong("sizes added instead of multiplied", {"test_q2_terms": H},
          q2_terms="n_terms_3_2 = 5\ndef count_terms(hidden_sizes):\n    return sum(hidden_sizes) if hidden_sizes else 1"),
    wrong("the product in the wrong order", {"test_q3_collapse": V},
          q3_collapse="def collapse(W1, b1, W2, b2):\n    return W1.T @ W2.T, b1 + b2"),
    wrong("bias of the second layer forgotten", {"test_q3_collapse": H},
          q3_collapse="def collapse(W1, b1, W2, b2):\n    return W2 @ W1, W2 @ b1"),
    wrong("MAE claimed more sensitive to outliers", {"test_q4_losses": H},
          q4_losses="def mse(y_true, y_pred):\n    return float(((y_true - y_pred) ** 2).mean())\n"
                    "def mae(y_true, y_pred):\n    return float((y_true - y_pred).abs().mean())\noutlier_loss = 'MAE'"),
    wrong("a sum instead of a mean", {"test_q4_losses": H},
          q4_losses="def mse(y_true, y_pred):\n    return float(((y_true - y_pred) ** 2).sum()) / 2\n"
                    "def mae(y_true, y_pred):\n    return float((y_true - y_pred).abs().mean())\noutlier_loss = 'MSE'"),
    wrong("MSE for classes", {"test_q5_multiclass": H}, q5_multiclass="n_outputs = 10\nmulticlass_loss = 'MSELoss'"),
    wrong("one output", {"test_q5_multiclass": H}, q5_multiclass="n_outputs = 1\nmulticlass_loss = 'CrossEntropyLoss'"),
    wrong("a loss that is not an option", {"test_q5_multiclass": V},
          q5_multiclass="n_outputs = 10\nmulticlass_loss = 'cross-entropy'"),
]

# --------------------------------------------------------------------------- 06_one_neuron
TRAIN = ("def train_neuron(X, y, epochs=200, lr=0.1):\n    model = nn.Linear(2, 1)\n"
         "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n    for _ in range(epochs):\n"
         "        optimizer.zero_grad()\n        binary_loss(model, X, y).backward()\n        optimizer.step()\n"
         "    return model\n")
NEURON = [
    right("flatten and torch.sigmoid", q1_proba="def predict_proba(model, X):\n    return torch.sigmoid(model(X)).flatten()"),
    right("torch.where", q2_threshold="def predict_class(probabilities):\n"
                                      "    return torch.where(probabilities >= 0.5, 1, 0).to(torch.int64)"),
    right("BCELoss on probabilities", q3_bce="def binary_loss(model, X, y):\n"
                                             "    return nn.BCELoss()(torch.sigmoid(model(X)).view(-1), y)"),
    right("functional BCE with logits", q3_bce="import torch.nn.functional as F\ndef binary_loss(model, X, y):\n"
                                               "    return F.binary_cross_entropy_with_logits(model(X)[:, 0], y.float())"),
    right("accuracy by counting", q4_train=TRAIN + "neuron = train_neuron(X, y)\n"
                                                   "neuron_accuracy = "
                                                   "(predict_class(predict_proba(neuron, X)) == y).sum().item() / len(y)"),
    wrong("no sigmoid", {"test_q1_proba": V}, q1_proba="def predict_proba(model, X):\n    return model(X).squeeze(1)"),
    # the student's own accuracy in question 4 uses predict_proba: a column broadcasts against y and is wrong too
    wrong("a column instead of a vector", {"test_q1_proba": V, "test_q4_train": V},
          q1_proba="def predict_proba(model, X):\n    return torch.sigmoid(model(X))"),
    wrong("strict threshold", {"test_q2_threshold": H},
          q2_threshold="def predict_class(probabilities):\n    return (probabilities > 0.5).long()"),
    wrong("booleans instead of classes", {"test_q2_threshold": V},
          q2_threshold="def predict_class(probabilities):\n    return probabilities >= 0.5"),
    wrong("MSE instead of cross-entropy", {"test_q3_bce": V},
          q3_bce="def binary_loss(model, X, y):\n    return ((torch.sigmoid(model(X)).squeeze(1) - y) ** 2).mean()"),
    wrong("never trained", {"test_q4_train": V},
          q4_train="def train_neuron(X, y, epochs=200, lr=0.1):\n    model = nn.Linear(2, 1)\n"
                   "    nn.init.zeros_(model.weight)\n    nn.init.zeros_(model.bias)\n    return model\n"
                   "neuron = train_neuron(X, y)\n"
                   "neuron_accuracy = float((predict_class(predict_proba(neuron, X)) == y).float().mean())"),
    wrong("accuracy typed in", {"test_q4_train": H}, q4_train=TRAIN + "neuron = train_neuron(X, y, epochs=0)\n"
                                                                        "neuron_accuracy = 1.0"),
]

EXPERIMENT_CALLS = ("torch.manual_seed(0)\n"
                    "linear_model, linear_train_accuracy, linear_valid_accuracy = run_experiment(\n"
                    "    [], X_exp_train, y_exp_train, X_exp_valid, y_exp_valid, EXPERIMENT_EPOCHS)\n"
                    "mlp_model, mlp_train_accuracy, mlp_valid_accuracy = run_experiment(\n"
                    "    [128, 128], X_exp_train, y_exp_train, X_exp_valid, y_exp_valid, EXPERIMENT_EPOCHS)\n")
EXPERIMENT_HEAD = "def run_experiment(hidden_sizes, X_train, y_train, X_valid, y_valid, epochs, lr=0.1, batch_size=64):\n"
MLP += [
    right("experiment with the accuracy written out",
          experiments=EXPERIMENT_HEAD + "    model = MLP(X_train.shape[1], list(hidden_sizes), 10)\n"
                      "    train_model(model, X_train, y_train, epochs, lr, batch_size)\n    with torch.no_grad():\n"
                      "        train_acc = (model(X_train).argmax(1) == y_train).float().mean().item()\n"
                      "        valid_acc = (model(X_valid).argmax(1) == y_valid).float().mean().item()\n"
                      "    return model, train_acc, valid_acc\n" + EXPERIMENT_CALLS),
    wrong("validation accuracy measured on the training data", {"test_experiments": H},
          experiments=EXPERIMENT_HEAD + "    model = MLP(X_train.shape[1], hidden_sizes, 10)\n"
                      "    train_model(model, X_train, y_train, epochs=epochs, lr=lr, batch_size=batch_size)\n"
                      "    with torch.no_grad():\n        train_accuracy = accuracy(model(X_train), y_train)\n"
                      "    return model, train_accuracy, train_accuracy\n" + EXPERIMENT_CALLS),
    wrong("the model is never trained", {"test_experiments": H},
          experiments=EXPERIMENT_HEAD + "    model = MLP(X_train.shape[1], hidden_sizes, 10)\n    with torch.no_grad():\n"
                      "        return model, accuracy(model(X_train), y_train), accuracy(model(X_valid), y_valid)\n"
                      + EXPERIMENT_CALLS),
    wrong("784 inputs whatever the data", {"test_experiments": V},
          experiments=EXPERIMENT_HEAD + "    model = MLP(784, hidden_sizes, 10)\n"
                      "    train_model(model, X_train, y_train, epochs=epochs, lr=lr, batch_size=batch_size)\n"
                      "    with torch.no_grad():\n"
                      "        return model, accuracy(model(X_train), y_train), accuracy(model(X_valid), y_valid)\n"
                      + EXPERIMENT_CALLS),
]

VARIANTS = {"01_tensors": TENSORS, "02_dot_product": DOT, "03_parameter_count": PARAMS, "04_mlp_fashion_mnist": MLP,
            "05_concept_check": CONCEPTS, "06_one_neuron": NEURON}


def _student(assignment: str, k: int) -> str:
    return f"{assignment[:2]}v{k:02d}"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course, released, with every variant handed in as its own student (and the reference as `ref`)."""
    root = copy_course(tmp_path_factory.mktemp("variants") / "course")
    release(Course.at(root), None)
    for assignment, variants in VARIANTS.items():
        source = json.loads((root / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
        blank = json.loads((root / "release" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
        reference = reference_answers(source)
        submit(root, "ref", assignment, student_notebook(blank, reference))
        for k, variant in enumerate(variants):
            assert set(variant.answers) <= set(reference), (variant.name, set(variant.answers) - set(reference))
            submit(root, _student(assignment, k), assignment, student_notebook(blank, {**reference, **variant.answers}))
    return root


def test_every_graded_cell_has_a_right_and_a_wrong_variant():
    import nbformat
    from _assignment_helpers import REPO, notebook_path

    for assignment, variants in VARIANTS.items():
        cells = nbgrader_cells(nbformat.read(notebook_path(REPO, "source", assignment), as_version=4))
        tests = {grade_id for grade_id, cell in cells.items() if is_test_cell(cell)}
        lost = {test for variant in variants for test in variant.loses}
        assert tests <= lost, f"{assignment}: no wrong variant for {sorted(tests - lost)}"
        assert lost <= tests, f"{assignment}: variants name tests that do not exist: {sorted(lost - tests)}"
        assert sum(not variant.loses for variant in variants) >= 5


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_right_answers_get_full_marks_and_wrong_ones_lose_exactly_their_test(course, assignment):
    summary = grade_batch(Course.at(course), assignment, quiet=True)
    results = {result.student_id: result for result in summary.graded}
    reference = results.pop("ref")
    full = {cell.grade_id: cell.max_score for cell in reference.cells}
    assert reference.score == sum(full.values()) > 0, [(c.grade_id, c.error) for c in reference.cells if c.score != c.max_score]
    problems = []
    for k, variant in enumerate(VARIANTS[assignment]):
        result = results[_student(assignment, k)]
        assert result.status.value == "graded", (variant.name, result.status, result.message)
        for cell in result.cells:
            lost = variant.loses.get(cell.grade_id)
            if lost is None and cell.score != cell.max_score:
                problems.append(f"{variant.name}: {cell.grade_id} lost points ({cell.error})")
            elif lost is not None and cell.score != 0:
                problems.append(f"{variant.name}: {cell.grade_id} kept {cell.score} points")
            elif lost is not None and (lost is Seen.HIDDEN) != ("in a hidden test" in cell.error):
                problems.append(f"{variant.name}: {cell.grade_id} should be caught by the {lost.value} test: {cell.error!r}")
    assert not problems, "\n".join(problems)
