"""A free text a call needed and found no audio for: the bus topic that asks for it.

The voice side publishes {"text": ...} on PROMPT_WANTED; the prompts component
(prompts/service.py) renders it in its worker thread within seconds.
"""

PROMPT_WANTED = "prompt_wanted"
