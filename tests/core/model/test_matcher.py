import itertools

import torch

from istr_core.model.matcher import HungarianMatcher, MatchTarget


def _target(m: int, k: int, g: torch.Generator, d: int = 6) -> MatchTarget:
    xy = torch.rand(m, 2, generator=g) * 80
    wh = torch.rand(m, 2, generator=g) * 40 + 5
    return MatchTarget(
        labels=torch.randint(0, k, (m,), generator=g),
        boxes=torch.cat([xy, xy + wh], 1),
        box_masks=torch.zeros(m, 4, 4),
        codes=torch.randn(m, d, generator=g),
        image_size=torch.tensor([128.0, 128.0, 128.0, 128.0]),
    )


def _brute_force(cost: torch.Tensor) -> float:
    n, m = cost.shape
    return min(
        sum(cost[r, c] for r, c in zip(rows, range(m), strict=True)).item()
        for rows in itertools.permutations(range(n), m)
    )


def test_matches_brute_force_optimum_on_small_cases():
    matcher = HungarianMatcher()
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n, m, k = 5, int(torch.randint(1, 5, (1,), generator=g)), 3
        logits, codes = torch.randn(1, n, k, generator=g), torch.randn(1, n, 6, generator=g)
        xy = torch.rand(1, n, 2, generator=g) * 80
        boxes = torch.cat([xy, xy + torch.rand(1, n, 2, generator=g) * 40 + 5], 2)
        target = _target(m, k, g)
        ((rows, cols),) = matcher(logits, boxes, codes, [target])
        cost = matcher.cost_matrix(logits[0], boxes[0], codes[0], target)
        assert len(rows) == m and len(set(rows.tolist())) == m
        assert abs(cost[rows, cols].sum().item() - _brute_force(cost)) < 1e-4, trial


def test_cost_prefers_the_matching_box_class_and_mask():
    matcher = HungarianMatcher()
    target = MatchTarget(
        labels=torch.tensor([1]),
        boxes=torch.tensor([[10.0, 10, 50, 50]]),
        box_masks=torch.zeros(1, 4, 4),
        codes=torch.tensor([[1.0, 0, 0]]),
        image_size=torch.tensor([100.0, 100, 100, 100]),
    )
    logits = torch.tensor([[-5.0, 5.0], [5.0, -5.0]])  # proposal 0 says class 1
    boxes = torch.tensor([[10.0, 10, 50, 50], [60.0, 60, 90, 90]])
    codes = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])
    cost = matcher.cost_matrix(logits, boxes, codes, target)
    assert cost[0, 0] < cost[1, 0]
    # each term alone also orders them
    for weights in [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]:
        c = HungarianMatcher(*weights).cost_matrix(logits, boxes, codes, target)
        assert c[0, 0] < c[1, 0], weights


def test_image_without_objects_matches_nothing():
    matcher = HungarianMatcher()
    empty = MatchTarget(
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, 4),
        torch.zeros(0, 4, 4),
        torch.zeros(0, 6),
        torch.tensor([64.0, 64, 64, 64]),
    )
    ((rows, cols),) = matcher(torch.randn(1, 4, 2), torch.rand(1, 4, 4) * 10, torch.randn(1, 4, 6), [empty])
    assert rows.numel() == 0 and cols.numel() == 0


def test_copies_let_each_instance_take_several_proposals():
    matcher = HungarianMatcher()
    g = torch.Generator().manual_seed(3)
    target = _target(2, 2, g)
    logits, codes = torch.randn(1, 9, 2, generator=g), torch.randn(1, 9, 6, generator=g)
    boxes = target.boxes.repeat(5, 1)[:9][None] + torch.rand(1, 9, 4, generator=g)
    ((rows, cols),) = matcher(logits, boxes, codes, [target], copies=3)
    assert len(rows) == 6 and len(set(rows.tolist())) == 6  # a proposal serves one instance only
    assert sorted(cols.tolist()) == [0, 0, 0, 1, 1, 1]
    ((rows1, cols1),) = matcher(logits, boxes, codes, [target], copies=1)
    assert len(rows1) == 2
    # never more copies than proposals allow
    ((rows, cols),) = matcher(logits[:, :3], boxes[:, :3], codes[:, :3], [target], copies=4)
    assert len(rows) == 2
