"""Asterisk/FreePBX: read a PBX's configuration tree (locally or over SSH), its `asterisk -rx`
outputs and a CDR sample, and parse them into facts that keep their file and line."""
