"""GPO, VPL and PAL, compactly, on the frozen backbone's embeddings.

None of the three has an official implementation on PyPI, so each is written here from its
paper, on the same backbone as the Bradley–Terry models: every (conversation, reply) input is
embedded once by the frozen base model (its last hidden state at the last token;
:func:`persona_judge.reward_models.train.embed`), and a small head is trained on the
embeddings of every user's train + validation pairs. Chapter 10 lists the differences from
the papers.

* **PAL** (Chen et al. 2025, PAL-B): a shared projection ``f``, K prototype directions ``p_k``
  and per-user mixture weights ``w_u = softmax(θ_u)``; reward ``r_u(e) = f(e) · Σ_k w_uk p_k``.
* **VPL** (Poddar et al. 2024): an encoder reads a user's context pairs (pair MLP, attention
  pooling) into a Gaussian latent ``z``; reward ``r(e, z) = MLP([f(e); z])``; loss BT + β·KL.
  At test time ``z`` is the posterior mean from the user's train + validation pairs.
* **GPO** (Zhao et al. 2024): a transformer reads labelled context pairs and unlabelled target
  replies; targets attend to the context and to themselves only, and each gets a reward;
  meta-trained across users by splitting each user's pairs into context and targets.

Every head is trained with Adam from the seed, ``head_epochs`` passes over the users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from persona_judge.reward_models.settings import RewardModelSettings

LATENT_METHODS = ("GPO", "VPL", "PAL")
USER_LR_SCALE = 30.0  # PAL: per-user weights' learning rate ÷ the shared head's


@dataclass(frozen=True)
class UserPairs:
    """One user's pairs as rows of the embedding matrix: (chosen row, rejected row) each."""

    user_id: str
    train: tuple[tuple[int, int], ...]   # train + validation: what the head learns from
    test: tuple[tuple[int, int], ...]    # (chosen, rejected) of each test pair


def _modules(method: str, dim: int, n_users: int, s: RewardModelSettings):  # noqa: ANN202
    import torch
    from torch import nn

    h = s.latent_dim

    class PAL(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.f = nn.Linear(dim, h)
            self.prototypes = nn.Parameter(torch.randn(s.pal_prototypes, h) / h ** 0.5)
            self.weights = nn.Parameter(torch.randn(n_users, s.pal_prototypes))

        def forward(self, user: int, context: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
            ideal = torch.softmax(self.weights[user], -1) @ self.prototypes
            return self.f(targets) @ ideal, torch.zeros(())

    class VPL(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pair = nn.Sequential(nn.Linear(2 * dim, h), nn.GELU(), nn.Linear(h, h))
            self.attend = nn.Linear(h, 1)
            self.mu, self.logvar = nn.Linear(h, h), nn.Linear(h, h)
            self.f = nn.Linear(dim, h)
            self.reward = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, 1))

        def forward(self, user: int, context: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
            encoded = self.pair(context)                      # context: (n, 2·dim)
            weights = torch.softmax(self.attend(encoded).squeeze(-1), 0)
            pooled = weights @ encoded
            mu, logvar = self.mu(pooled), self.logvar(pooled).clamp(-8, 8)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
            feats = torch.cat([self.f(targets), z.expand(len(targets), -1)], -1)
            return self.reward(feats).squeeze(-1), s.vpl_beta * kl

    class GPO(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.context_in = nn.Linear(2 * dim + 1, h)
            self.target_in = nn.Linear(dim, h)
            layer = nn.TransformerEncoderLayer(h, nhead=2, dim_feedforward=2 * h,
                                               dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.out = nn.Linear(h, 1)

        def forward(self, user: int, context: torch.Tensor, targets: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
            # context rows: [first, second, 1 if first was chosen]; shown in a seeded order
            n, m = len(context), len(targets)
            tokens = torch.cat([self.context_in(context), self.target_in(targets)], 0)
            mask = torch.zeros(n + m, n + m, dtype=torch.bool)
            mask[:, n:] = True                       # nobody attends to targets ...
            idx = torch.arange(n, n + m)
            mask[idx, idx] = False                   # ... except each target to itself
            out = self.encoder(tokens.unsqueeze(0), mask=mask).squeeze(0)
            return self.out(out[n:]).squeeze(-1), torch.zeros(())

    return {"PAL": PAL, "VPL": VPL, "GPO": GPO}[method]()


def _context(method: str, emb: np.ndarray, pairs: Sequence[tuple[int, int]],
             rng: np.random.Generator) -> np.ndarray:
    rows = []
    for c, r in pairs:
        if method == "GPO":
            flip = bool(rng.integers(2))
            first, second = (r, c) if flip else (c, r)
            rows.append(np.concatenate([emb[first], emb[second], [0.0 if flip else 1.0]]))
        else:
            rows.append(np.concatenate([emb[c], emb[r]]))
    return np.asarray(rows, dtype=np.float32)


def train_and_score(method: str, embeddings: np.ndarray, users: Sequence[UserPairs],
                    settings: RewardModelSettings, *, seed: int,
                    progress: bool = False) -> Mapping[str, np.ndarray]:
    """Train ``method``'s head on every user's train pairs; ``{user: (n_test, 2) rewards}``
    (chosen, rejected) for each user's test pairs."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if method not in LATENT_METHODS:
        raise ValueError(f"unknown latent method {method!r}; choose from {LATENT_METHODS}")
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, LATENT_METHODS.index(method)])
    emb = embeddings.astype(np.float32)
    emb = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)  # standardised features
    model = _modules(method, emb.shape[1], len(users), settings)
    # PAL's per-user weights are updated only on their user's steps (one per pass), so they
    # get a larger step (as PAL trains user weights apart from the shared model)
    own = [p for n, p in model.named_parameters() if n == "weights"]
    shared = [p for n, p in model.named_parameters() if n != "weights"]
    optimizer = torch.optim.Adam(
        [{"params": shared}, *([{"params": own, "lr": USER_LR_SCALE * settings.head_learning_rate}]
                               if own else [])], lr=settings.head_learning_rate)
    tensor = torch.from_numpy(emb)
    trainable = [i for i, u in enumerate(users) if u.train]
    model.train()
    for _ in tqdm(range(settings.head_epochs), desc=f"training {method}", disable=not progress):
        for i in rng.permutation(trainable):
            pairs = list(users[i].train)
            order = rng.permutation(len(pairs))
            if method == "PAL" or len(pairs) < 2:
                context_pairs, target_pairs = pairs, pairs
            else:  # a random part of the user's pairs is the context, the rest the targets
                k = int(min(settings.vpl_context, rng.integers(1, len(pairs))))
                context_pairs = [pairs[j] for j in order[:k]]
                target_pairs = [pairs[j] for j in order[k:]]
            context = torch.from_numpy(_context(method, emb, context_pairs, rng))
            rows = [j for pair in target_pairs for j in pair]
            rewards, extra = model(i, context, tensor[rows])
            loss = -F.logsigmoid(rewards[0::2] - rewards[1::2]).mean() + extra
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for i, user in enumerate(users):
            if not user.test:
                continue
            pairs = list(user.train) or list(user.test[:0])
            context = torch.from_numpy(_context(method, emb, pairs, rng)) if pairs else \
                torch.zeros((0, 2 * emb.shape[1] + (method == "GPO")))
            rows = [j for pair in user.test for j in pair]
            rewards, _ = model(i, context, tensor[rows])
            out[user.user_id] = rewards.numpy().reshape(-1, 2).astype(float)
    return out
