"""The file-watch daemon: inotify events -> dirty paths -> baseline comparison -> one event each.

Raw inotify events are noisy and lossy (FACTS.md), so they only say *where* to look; what is
recorded comes from comparing the file with a persisted baseline after a short settle period.
"""
