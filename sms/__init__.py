"""SMS side: the SMPP link, citizen commands, replies and reminders."""
