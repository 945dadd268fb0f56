"""DynamoDB items, as pynamodb models.

Attribute names in DynamoDB are the contract's camelCase names; Python names are
snake_case. Key schemas and indexes here must match template.yaml, which
tests/test_template.py checks.

Ownership lives in the keys where it can: contact lists, templates and media items
are keyed by (userId, id), so reading another user's item is simply "not found".
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from campaigns.config import Settings, settings


class CampaignsByUser(GlobalSecondaryIndex):
    """A user's campaigns, newest first (query with scan_index_forward=False)."""

    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    created_at = UTCDateTimeAttribute(range_key=True, attr_name="createdAt")


class CampaignsByStatusDue(GlobalSecondaryIndex):
    """Campaigns the schedule must look at: `dueAt` is set only while one is due
    (a Scheduled campaign's start time, a Running campaign's lease expiry), so the
    index stays sparse and small."""

    class Meta:
        index_name = "byStatusDue"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True, attr_name="dueAt")


class Campaign(Model):
    class Meta:
        table_name = "campaigns"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(attr_name="userId")
    name = UnicodeAttribute()
    status = UnicodeAttribute()
    contact_list_id = UnicodeAttribute(attr_name="contactListId")
    message_template_id = UnicodeAttribute(attr_name="messageTemplateId")
    media_library_item_id = UnicodeAttribute(null=True, attr_name="mediaLibraryItemId")
    default_name_value = UnicodeAttribute(attr_name="defaultNameValue")
    # The session the campaign sends through (its id); `wahaSession` is its WAHA name,
    # resolved when the campaign is created (campaigns from before sessions had ids
    # carry the name alone).
    whatsapp_session_id = UnicodeAttribute(null=True, attr_name="whatsappSessionId")
    waha_session = UnicodeAttribute(null=True, attr_name="wahaSession")

    # Pacing and safety options
    min_delay_ms = NumberAttribute(attr_name="minDelayMs")
    max_delay_ms = NumberAttribute(attr_name="maxDelayMs")
    typing = BooleanAttribute(default=False)
    batch_size = NumberAttribute(null=True, attr_name="batchSize")
    batch_pause_ms = NumberAttribute(null=True, attr_name="batchPauseMs")
    # {start, end, timeZone, days?} as JSON (campaigns.domain.send_windows); unset: any time.
    send_window = UnicodeAttribute(null=True, attr_name="sendWindow")
    check_numbers = BooleanAttribute(default=True, attr_name="checkNumbers")
    # The message ends with the opt-out footer (OPT_OUT_FOOTER) on a line of its own.
    opt_out_footer = BooleanAttribute(default=False, attr_name="optOutFooter")

    # Times
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    updated_at = UTCDateTimeAttribute(null=True, attr_name="updatedAt")
    scheduled_at = UTCDateTimeAttribute(null=True, attr_name="scheduledAt")
    started_at = UTCDateTimeAttribute(null=True, attr_name="startedAt")
    completed_at = UTCDateTimeAttribute(null=True, attr_name="completedAt")

    # Progress
    last_processed_contact_index = NumberAttribute(null=True, attr_name="lastProcessedContactIndex")
    total_contacts = NumberAttribute(default=0, attr_name="totalContacts")
    sent_count = NumberAttribute(default=0, attr_name="sentCount")
    failed_count = NumberAttribute(default=0, attr_name="failedCount")
    unknown_count = NumberAttribute(default=0, attr_name="unknownCount")
    skipped_count = NumberAttribute(default=0, attr_name="skippedCount")
    # From WhatsApp's acknowledgements (message.ack webhooks): Delivered or later, Read or later.
    delivered_count = NumberAttribute(default=0, attr_name="deliveredCount")
    read_count = NumberAttribute(default=0, attr_name="readCount")
    pause_reason = UnicodeAttribute(null=True, attr_name="pauseReason")
    failure_reason = UnicodeAttribute(null=True, attr_name="failureReason")

    # Run bookkeeping (internal)
    run_token = UnicodeAttribute(null=True, attr_name="runToken")
    in_flight_index = NumberAttribute(null=True, attr_name="inFlightIndex")
    lease_expires_at = UTCDateTimeAttribute(null=True, attr_name="leaseExpiresAt")
    due_at = UTCDateTimeAttribute(null=True, attr_name="dueAt")
    dispatched_at = UTCDateTimeAttribute(null=True, attr_name="dispatchedAt")
    last_sent_at = UTCDateTimeAttribute(null=True, attr_name="lastSentAt")
    sent_in_batch = NumberAttribute(default=0, attr_name="sentInBatch")
    no_progress_count = NumberAttribute(default=0, attr_name="noProgressCount")
    invocation_count = NumberAttribute(default=0, attr_name="invocationCount")
    # The hop the last hand-off invoked; a continuation is accepted once, for this hop.
    pending_hop = NumberAttribute(null=True, attr_name="pendingHop")
    # A parked run (pacing, batch pause, WAHA outage, a contact not yet readable):
    # it stays Running and no event continues it before `waitingUntil`.
    waiting_until = UTCDateTimeAttribute(null=True, attr_name="waitingUntil")
    wait_reason = UnicodeAttribute(null=True, attr_name="waitReason")
    # When WAHA started failing for this run; the run rides the outage out for a while.
    outage_since = UTCDateTimeAttribute(null=True, attr_name="wahaOutageSince")
    # An unconfirmed send's pre-generated id, kept for its contact: sent again with it,
    # WAHA and WhatsApp deduplicate it.
    pending_message_id = UnicodeAttribute(null=True, attr_name="pendingMessageId")
    pending_message_index = NumberAttribute(null=True, attr_name="pendingMessageIndex")
    # DELETE of a final campaign: hidden from here on, then its deliveries go, then the item.
    deleting_at = UTCDateTimeAttribute(null=True, attr_name="deletingAt")
    # POST /campaigns/{id}/test: sends on `testSendDay` (UTC), against a daily quota.
    test_send_day = UnicodeAttribute(null=True, attr_name="testSendDay")
    test_send_count = NumberAttribute(null=True, attr_name="testSendCount")

    by_user = CampaignsByUser()
    by_status_due = CampaignsByStatusDue()


class ContactList(Model):
    class Meta:
        table_name = "contact-lists"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    # ISO 3166 alpha-2: the country of numbers written in national format, at
    # creation and in every append.
    default_country = UnicodeAttribute(null=True, attr_name="defaultCountry")
    contact_count = NumberAttribute(default=0, attr_name="contactCount")
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    updated_at = UTCDateTimeAttribute(null=True, attr_name="updatedAt")
    # Set when its deletion starts: the list reads as gone while its contacts are deleted.
    deleting_at = UTCDateTimeAttribute(null=True, attr_name="deletingAt")
    # The campaigns created over this item, and a count that grows with each: a delete
    # checks their statuses, then deletes only if the count is still the one it read.
    campaign_ids = UnicodeSetAttribute(null=True, attr_name="campaignIds")
    use_count = NumberAttribute(null=True, attr_name="useCount")


class Contact(Model):
    """One contact of a list, at a stable 0-based index (the range key), so a
    Query can start at any index."""

    class Meta:
        table_name = "contacts"

    list_id = UnicodeAttribute(hash_key=True, attr_name="listId")
    index = NumberAttribute(range_key=True)
    phone_number = UnicodeAttribute(attr_name="phoneNumber")
    first_name = UnicodeAttribute(null=True, attr_name="firstName")


class MessageTemplate(Model):
    class Meta:
        table_name = "message-templates"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    text_content = UnicodeAttribute(attr_name="textContent")
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    # The campaigns created over this item, and a count that grows with each: a delete
    # checks their statuses, then deletes only if the count is still the one it read.
    campaign_ids = UnicodeSetAttribute(null=True, attr_name="campaignIds")
    use_count = NumberAttribute(null=True, attr_name="useCount")


class MediaLibraryItem(Model):
    class Meta:
        table_name = "media-items"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    storage_path = UnicodeAttribute(attr_name="storagePath")
    mime_type = UnicodeAttribute(attr_name="mimeType")
    # An uploaded file (storagePath `s3://<media bucket>/<key>`): the size it was declared
    # with, the most its upload form let through.
    size_bytes = NumberAttribute(null=True, attr_name="sizeBytes")
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    # The campaigns created over this item, and a count that grows with each: a delete
    # checks their statuses, then deletes only if the count is still the one it read.
    campaign_ids = UnicodeSetAttribute(null=True, attr_name="campaignIds")
    use_count = NumberAttribute(null=True, attr_name="useCount")


class DeliveriesByMessageId(GlobalSecondaryIndex):
    """A delivery found by WAHA's serialized message id, as message.ack webhooks carry it."""

    class Meta:
        index_name = "byMessageId"
        projection = KeysOnlyProjection()

    message_id = UnicodeAttribute(hash_key=True, attr_name="messageId")


class Delivery(Model):
    """What happened to one contact of one campaign: written once, never resent."""

    class Meta:
        table_name = "deliveries"

    campaign_id = UnicodeAttribute(hash_key=True, attr_name="campaignId")
    contact_index = NumberAttribute(range_key=True, attr_name="contactIndex")
    phone_number = UnicodeAttribute(attr_name="phoneNumber")
    status = UnicodeAttribute()
    message_id = UnicodeAttribute(null=True, attr_name="messageId")
    error = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    # WhatsApp's latest acknowledgement (Server, Delivered, Read, Played, Error) and its
    # rank, which only ever grows (campaigns.domain.acks).
    ack = UnicodeAttribute(null=True)
    ack_rank = NumberAttribute(null=True, attr_name="ackRank")

    by_message_id = DeliveriesByMessageId()


class SessionsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "byUser"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    created_at = UTCDateTimeAttribute(range_key=True, attr_name="createdAt")


class WhatsAppSession(Model):
    """A WhatsApp number: a WAHA session, keyed by its WAHA name (generated by the
    server, so one item per name and one owner per item), with the product's own
    `id`. Items from before sessions had ids carry a name and its holder only."""

    class Meta:
        table_name = "whatsapp-sessions"

    name = UnicodeAttribute(hash_key=True)
    # Removed when the session is deleted: the name stays taken, the item leaves byUser.
    user_id = UnicodeAttribute(null=True, attr_name="userId")
    created_at = UTCDateTimeAttribute(attr_name="createdAt")
    id = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    daily_limit = NumberAttribute(null=True, attr_name="dailyLimit")
    # As the session.status webhooks (or a GET of one session) last reported it.
    status = UnicodeAttribute(null=True)
    status_at = UTCDateTimeAttribute(null=True, attr_name="statusAt")
    phone_number = UnicodeAttribute(null=True, attr_name="phoneNumber")
    push_name = UnicodeAttribute(null=True, attr_name="pushName")
    deleted_by = UnicodeAttribute(null=True, attr_name="deletedBy")
    deleted_at = UTCDateTimeAttribute(null=True, attr_name="deletedAt")
    # On a session's id key (`id#<id>`, written with the session): the WAHA name it
    # points to, so a session is read by its id from the table itself, never through
    # the byUser index (which lags its table).
    waha_name = UnicodeAttribute(null=True, attr_name="wahaName")

    # Pacing per number (campaigns.domain.number_pacing), written with one conditional
    # write per send (`numberVersion`): the last send, its campaign and gap, sends per
    # hour for the rolling 24 hours, and the campaigns waiting for a turn (JSON).
    number_last_send_at = UTCDateTimeAttribute(null=True, attr_name="numberLastSendAt")
    number_last_gap_ms = NumberAttribute(null=True, attr_name="numberLastGapMs")
    number_last_campaign = UnicodeAttribute(null=True, attr_name="numberLastCampaign")
    number_hourly = UnicodeAttribute(null=True, attr_name="numberHourly")
    number_waiting = UnicodeAttribute(null=True, attr_name="numberWaiting")
    number_version = NumberAttribute(null=True, attr_name="numberVersion")
    # The last turn's id and earliest moment (written with it), and its settlement: the
    # moment its send really started, written after the send without the version (an
    # old turn's settlement is told apart by its id).
    number_turn_id = UnicodeAttribute(null=True, attr_name="numberTurnId")
    number_last_send_from = UTCDateTimeAttribute(null=True, attr_name="numberLastSendFrom")
    number_settled_turn = UnicodeAttribute(null=True, attr_name="numberSettledTurn")
    number_settled_at = UTCDateTimeAttribute(null=True, attr_name="numberSettledAt")

    by_user = SessionsByUser()


class ParkedAcksByHour(GlobalSecondaryIndex):
    """Acks parked until their delivery is recorded, by the hour they arrived: a sparse
    index (only parked acks carry `parkedHour`) that the schedule reads."""

    class Meta:
        index_name = "parkedAcks"
        projection = AllProjection()

    parked_hour = UnicodeAttribute(hash_key=True, attr_name="parkedHour")
    received_at = UTCDateTimeAttribute(range_key=True, attr_name="receivedAt")


class WebhookEvent(Model):
    """A WAHA webhook event already handled (WAHA retries: each id is acted on once);
    DynamoDB's TTL removes it after a week.

    The table also keeps parked acks (`campaigns.data.webhook_events.park_ack`): a
    message.ack for a message no delivery had yet, keyed by its session and message id,
    with the highest ack reported so far; TTL removes them after a few days."""

    class Meta:
        table_name = "webhook-events"

    id = UnicodeAttribute(hash_key=True)
    session = UnicodeAttribute()
    event = UnicodeAttribute()
    received_at = UTCDateTimeAttribute(attr_name="receivedAt")
    expires_at = NumberAttribute(attr_name="expiresAt")
    # Acting on it failed: a retry of the event may act again.
    failed = BooleanAttribute(null=True)
    # A parked ack: WAHA's serialized message id, the ack and its rank (only grows), and
    # the UTC hour it was first parked (`YYYY-MM-DDTHH`, the parkedAcks index's key).
    message_id = UnicodeAttribute(null=True, attr_name="messageId")
    ack = UnicodeAttribute(null=True)
    ack_rank = NumberAttribute(null=True, attr_name="ackRank")
    parked_hour = UnicodeAttribute(null=True, attr_name="parkedHour")
    # The reporting session's id (its WAHA name is `session`).
    session_id = UnicodeAttribute(null=True, attr_name="sessionId")

    parked_acks = ParkedAcksByHour()


class OptOut(Model):
    """A number its owner must never message again, until it is taken off the list:
    keyed by (userId, E.164 number), so one number is on a user's list at most once."""

    class Meta:
        table_name = "opt-outs"

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    phone_number = UnicodeAttribute(range_key=True, attr_name="phoneNumber")
    opted_out_at = UTCDateTimeAttribute(attr_name="optedOutAt")
    # keyword, manual or import (campaigns.domain.optouts.OptOutSource)
    source = UnicodeAttribute()
    # For a keyword: the word and the session (the user's number) it was sent to.
    keyword = UnicodeAttribute(null=True)
    whatsapp_session_id = UnicodeAttribute(null=True, attr_name="whatsappSessionId")


ALL_MODELS: tuple[type[Model], ...] = (
    Campaign,
    ContactList,
    Contact,
    MessageTemplate,
    MediaLibraryItem,
    Delivery,
    WhatsAppSession,
    WebhookEvent,
    OptOut,
)


def configure_models(cfg: Settings | None = None) -> None:
    """Point every model at its table, region and (optional) endpoint.

    Called at import with the environment's settings; the local stack and tests
    call it again after changing the environment. Cached connections are dropped
    so the new endpoint takes effect.
    """
    cfg = cfg or settings()
    names = {
        Campaign: cfg.tables.campaigns,
        ContactList: cfg.tables.contact_lists,
        Contact: cfg.tables.contacts,
        MessageTemplate: cfg.tables.templates,
        MediaLibraryItem: cfg.tables.media,
        Delivery: cfg.tables.deliveries,
        WhatsAppSession: cfg.tables.sessions,
        WebhookEvent: cfg.tables.webhook_events,
        OptOut: cfg.tables.optouts,
    }
    for model, table_name in names.items():
        model.Meta.table_name = table_name
        model.Meta.region = cfg.region
        model.Meta.host = cfg.dynamodb_endpoint
        model._connection = None


configure_models()
