package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/warden-llm/warden/store/docbase"
)

// adminStoreObject is a store's metadata with its compartment: what an
// administrator cleaning up sees, never the documents' content.
type adminStoreObject struct {
	vectorStoreObject
	Compartment docbase.Compartment `json:"compartment"`
}

// adminListStores serves GET /admin/vector_stores: the stores of every
// compartment, metadata only.
func (s *Server) adminListStores(c echo.Context) error {
	db, err := s.docs()
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	exchangeOf(c).detail = queryDetail(c.QueryParams())
	page, err := db.AdminListStores(c.Request().Context(), p)
	if err != nil {
		return docError(err, "vector store", cursorOf(p))
	}
	return c.JSON(http.StatusOK, listJSON(page, func(v docbase.AdminStore) adminStoreObject {
		return adminStoreObject{vectorStoreObject: storeJSON(v.Store), Compartment: v.Compartment}
	}))
}

// adminDeleteStore serves DELETE /admin/vector_stores/{id}, whatever the
// store's compartment.
func (s *Server) adminDeleteStore(c echo.Context) error {
	db, err := s.docs()
	if err != nil {
		return err
	}
	id := c.Param("id")
	exchangeOf(c).detail = "store=" + id
	if err := db.AdminDeleteStore(c.Request().Context(), id); err != nil {
		return docError(err, "vector store", id)
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "object": "vector_store.deleted", "deleted": true})
}
