"""The collector's tests on PostgreSQL metadata (local blobs): pruning and deleting take the commit lock there
(an advisory lock, multiverse/store/prune.py), and saves race collections under its isolation, not SQLite's one
writer. The tests are test_collect.py's and test_race.py's own, collected here with this module's ``env``."""

from __future__ import annotations

import pytest

from tests.gc import test_collect, test_race
from tests.gc.conftest import make_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def env(request, tmp_path):
    made = make_env(request, tmp_path, "local", db="postgres")
    yield made
    made.close()


test_pg_prune_and_collect_keep_heads_tokens_and_cross_inputs = \
    test_collect.test_prune_and_collect_keep_heads_tokens_and_cross_inputs
test_pg_dry_run_reports_what_would_go_and_changes_nothing = test_collect.test_dry_run_reports_what_would_go_and_changes_nothing
test_pg_grace_window_keeps_young_garbage = test_collect.test_grace_window_keeps_young_garbage
test_pg_delete_world_hides_it_and_frees_what_nothing_else_needs = \
    test_collect.test_delete_world_hides_it_and_frees_what_nothing_else_needs
test_pg_saves_racing_collections_lose_nothing = test_race.test_saves_racing_collections_lose_nothing
test_pg_a_save_that_waits_past_a_collection_commits_or_fails_cleanly = \
    test_race.test_a_save_that_waits_past_a_collection_commits_or_fails_cleanly
