"""PBX isolation analysis: from an Asterisk/FreePBX configuration, which customers can dial, pick
up, spy on or read each other's calls. `analyse()` runs every check of the catalogue."""
