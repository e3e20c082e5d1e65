from __future__ import annotations

import pytest

from tests.twoway.helpers import CUSTOMERS, TwoWaySetup


@pytest.fixture
async def two_way(db, make_simulator, database_url) -> TwoWaySetup:
    return TwoWaySetup(db, make_simulator(customers=CUSTOMERS), database_url)
