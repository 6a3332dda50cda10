"""`distilvit push DIR --repo ORG/NAME [--private] [--dry-run]`: upload with a model card."""

from __future__ import annotations

import argparse

from distilvit.cli_args import add_config_args, apply_args
from distilvit.config import PushConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="trained, merged or exported model folder")
    parser.add_argument("--repo", required=True, metavar="ORG/NAME",
                        help="Hugging Face Hub repository to create or update")
    add_config_args(parser, PushConfig, "push", "push")


def run(args: argparse.Namespace) -> int:
    from distilvit.export.card import model_card
    from distilvit.export.hub import CARD_FILE, check_repo, push, read_folder, upload_list

    cfg = apply_args(PushConfig(), args, "push")
    check_repo(args.repo)
    folder = read_folder(args.folder)
    card = model_card(folder, cfg.training_data, cfg.license, title=args.repo.split("/")[-1])
    if not cfg.dry_run:
        print(push(args.folder, args.repo, cfg.private, card))
        return 0
    files = upload_list(folder)
    own_card = CARD_FILE in {rel for rel, _ in files}
    total = sum(size for _, size in files) + (0 if own_card else len(card.encode()))
    visibility = "private" if cfg.private else "public"
    print(f"dry run: would upload {len(files) + (not own_card)} files ({total / 1e6:.1f} MB) "
          f"from {args.folder} to {visibility} repository {args.repo}")
    for rel, size in files:
        print(f"  {rel}  {size:,} bytes" + ("  (the folder's own model card)"
                                           if rel == CARD_FILE else ""))
    if not own_card:
        print(f"  {CARD_FILE}  {len(card.encode()):,} bytes  (generated model card)")
    return 0
