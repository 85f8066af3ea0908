"""Stories: articles of one event, from any outlet and language, kept together (pure core).

    Article + ArticleMatch ─▶ signature ─▶ StoryEntry ─▶ assign_stories (with the stored
    members that share a key) ─▶ story ids ─▶ gates: first alert, update, or quiet

The store keeps entries and their stories (one story per article: replicas agree); the
pipeline and `watcher match` wire these functions to it. Nothing here reads a clock or a disk
besides its own word weights (data/, built from wordfreq by tools/build_word_weights.py).
"""

from watcher.stories.clustering import (
    assign_stories,
    same_event,
    story_entry,
    story_id,
    story_views,
)
from watcher.stories.gates import Decision, delivery_gates, gate_decision
from watcher.stories.signature import Signature, signature

__all__ = ["Decision", "Signature", "assign_stories", "delivery_gates", "gate_decision",
           "same_event", "signature", "story_entry", "story_id", "story_views"]
