"""Publishing: feed documents built from stored articles, written atomically under output_dir.

``feeds`` builds bytes (pure); ``syndicate.files`` puts them on disk. Which feeds exist and what goes in
each is decided by ``catalog`` (pure); the pipeline reads the store and writes the files.
"""

from __future__ import annotations

from . import catalog as catalog
from .catalog import FeedSelection as FeedSelection
from .discovery import FeedListing as FeedListing
from .discovery import check_templates as check_templates
from .discovery import render_index as render_index
from .discovery import render_opml as render_opml
from .discovery import render_status as render_status
from .discovery import search_text as search_text
from .discovery import stylesheet as stylesheet
from .feeds import STYLESHEET as STYLESHEET
from .feeds import Credit as Credit
from .feeds import EntryCache as EntryCache
from .feeds import FeedItem as FeedItem
from .feeds import FeedLinks as FeedLinks
from .feeds import FeedSpec as FeedSpec
from .feeds import SiteInfo as SiteInfo
from .feeds import build_atom as build_atom
from .feeds import build_json as build_json
from .feeds import build_rss as build_rss
from .pages import ItemFragments as ItemFragments
from .pages import Paging as Paging
from .pages import page_path as page_path
from .pages import render_feed_page as render_feed_page

__all__ = [
    "STYLESHEET",
    "Credit",
    "EntryCache",
    "FeedItem",
    "FeedLinks",
    "FeedListing",
    "FeedSelection",
    "FeedSpec",
    "ItemFragments",
    "Paging",
    "SiteInfo",
    "build_atom",
    "build_json",
    "build_rss",
    "catalog",
    "page_path",
    "render_feed_page",
    "render_index",
    "render_opml",
    "search_text",
    "stylesheet",
]
